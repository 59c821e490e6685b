"""Benchmarks: scripts that print figures (speed, memory, accuracy). Not tests.

    python3 course.py bench train [--minutes 5] [--dataset lfw|synthetic|both]
    python3 course.py bench losses
    python3 course.py bench embed
    python3 course.py bench synthetic
    python3 course.py bench widgets   # threshold explorer: ms per slider move
    python3 course.py bench search [--sizes 10000 100000 1000000]
    python3 course.py bench photos [--lfw PATH] [--images 300]
    python3 course.py bench generalise [--quick]   # LFW DevTest vs AT&T: does the threshold travel?
"""
