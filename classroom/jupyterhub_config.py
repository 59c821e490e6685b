"""JupyterHub configuration for a class taking "FaceNet from scratch" on one server.

    cd classroom && npm install            # configurable-http-proxy into classroom/node_modules
    CLASSROOM_ROOT=/srv/facenet CLASSROOM_USER_PASSWORD=... CLASSROOM_ADMIN_PASSWORD=... \
        jupyterhub -f jupyterhub_config.py

Everything is read from environment variables so the same file serves the test
(tests/test_classroom.py, loopback ports, a temporary root) and a real classroom:

CLASSROOM_ROOT           folder holding homes/, exchange/ (nbgrader), course/ (instructor) and the
                         hub's state (sqlite, cookie secret). Default: ./classroom-run
CLASSROOM_IP / _PORT     where the proxy listens (default 127.0.0.1:8000)
CLASSROOM_HUB_PORT       the hub's internal API port (default 8081), proxy API port = _PORT + 1
CLASSROOM_STUDENTS       comma-separated allowed student names; CLASSROOM_INSTRUCTORS: admins
CLASSROOM_USER_PASSWORD  shared student password (>= 8 chars); CLASSROOM_ADMIN_PASSWORD (>= 32)
CLASSROOM_COURSE_ID      nbgrader course id (default facenet)
CLASSROOM_CULL_IDLE      seconds before an idle server is stopped (default 3600; 0 = off)

Spawner: SimpleLocalProcessSpawner runs every user's server as the hub's own Unix user, in
CLASSROOM_ROOT/homes/<name> — right for a test or a trusted class on one machine, NOT isolation
between students. For real isolation use LocalProcessSpawner (one Unix account each, hub as
root), DockerSpawner, or Kubernetes (z2jh-values.yaml). Memory/CPU limits below are
*advertised* to the servers (MEM_LIMIT/CPU_LIMIT) but only enforced by container spawners.
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("CLASSROOM_ROOT", HERE / "classroom-run")).resolve()
COURSE_ID = os.environ.get("CLASSROOM_COURSE_ID", "facenet")
EXCHANGE = ROOT / "exchange"
PORT = int(os.environ.get("CLASSROOM_PORT", "8000"))
IP = os.environ.get("CLASSROOM_IP", "127.0.0.1")
students = [s for s in os.environ.get("CLASSROOM_STUDENTS", "").split(",") if s]
instructors = [s for s in os.environ.get("CLASSROOM_INSTRUCTORS", "instructor").split(",") if s]
for folder in (ROOT, ROOT / "homes", EXCHANGE):
    folder.mkdir(parents=True, exist_ok=True)
EXCHANGE.chmod(0o777)     # nbgrader's exchange: every student writes its inbound/

c = get_config()  # noqa: F821  (provided by jupyterhub when it reads this file)

# ---------------------------------------------------------------- network: proxy and hub on loopback
c.JupyterHub.ip = IP
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("CLASSROOM_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 1}"
proxy = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(proxy)] if proxy.exists() else ["configurable-http-proxy"]
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = f"sqlite:///{ROOT / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(ROOT / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(ROOT / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# ---------------------------------------------------------------- who may log in
c.JupyterHub.authenticator_class = "shared-password"       # jupyterhub.authenticators.shared
c.SharedPasswordAuthenticator.user_password = os.environ.get("CLASSROOM_USER_PASSWORD") or None
c.SharedPasswordAuthenticator.admin_password = os.environ.get("CLASSROOM_ADMIN_PASSWORD") or None
c.Authenticator.allowed_users = set(students)
c.Authenticator.admin_users = set(instructors)
c.Authenticator.allow_all = not students

# ---------------------------------------------------------------- the users' servers
c.JupyterHub.spawner_class = "simple"                        # SimpleLocalProcessSpawner
c.SimpleLocalProcessSpawner.home_dir_template = str(ROOT / "homes" / "{username}")
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]   # the course's environment
c.Spawner.default_url = "/lab"
if os.geteuid() == 0:
    # SimpleLocalProcessSpawner runs servers as the hub's user; as root (a container, CI) the
    # Jupyter server refuses to start without this flag. Never run a real class's servers as root.
    c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = int(os.environ.get("CLASSROOM_SPAWN_TIMEOUT", "300"))   # TensorFlow + JupyterLab start slowly on a busy server
c.Spawner.http_timeout = int(os.environ.get("CLASSROOM_SPAWN_TIMEOUT", "300"))
c.Spawner.environment = {
    "COURSE_QUICK": os.environ.get("COURSE_QUICK", ""),
    "COURSE_DATASET": os.environ.get("COURSE_DATASET", ""),
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
# Sizes from measured notebook needs (classroom/README.md, "Resource limits"): a lesson-4 kernel
# peaks at ~0.8 GB, lesson 6 training at 1.5–1.7 GB; 2 GB guaranteed, 3 GB ceiling, 1 core each.
c.Spawner.mem_guarantee = "2G"
c.Spawner.mem_limit = "3G"
c.Spawner.cpu_guarantee = 0.5
c.Spawner.cpu_limit = 1.0


def write_nbgrader_config(spawner):
    """Before a server starts: its home gets an nbgrader_config.py naming the course and exchange."""
    home = Path(spawner.home_dir)
    home.mkdir(parents=True, exist_ok=True)
    (home / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(EXCHANGE)!r}\n"
        "c.Exchange.path_includes_course = True\n"
        # nbgrader names a submission after the Unix user; every server of this spawner runs as
        # the same Unix user, so name it after the hub user instead.
        f"c.CourseDirectory.student_id = {spawner.user.name!r}\n"
    )


c.Spawner.pre_spawn_hook = write_nbgrader_config

# ---------------------------------------------------------------- idle culling
cull_after = int(os.environ.get("CLASSROOM_CULL_IDLE", "3600"))
if cull_after:
    c.JupyterHub.load_roles = [{
        "name": "jupyterhub-idle-culler-role",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["jupyterhub-idle-culler-service"],
    }]
    c.JupyterHub.services = [{
        "name": "jupyterhub-idle-culler-service",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={cull_after}",
                    "--cull-every=60"],
    }]
