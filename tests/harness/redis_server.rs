//! A real `redis-server` for a test: its own temp dir, listening only on a unix socket in
//! it, with the append-only file on (`appendfsync always`), so that a kill and a restart on
//! the same dir keep every acknowledged write. Tests that use it are
//! `#[ignore = "needs redis-server"]`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    dir: tempfile::TempDir,
    child: Option<Child>,
    password: Option<String>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(None)
    }

    /// A server that requires `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_with(Some(password.to_string()))
    }

    fn start_with(password: Option<String>) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = RedisServer {
            dir,
            child: None,
            password,
        };
        server.spawn();
        server
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// `redis+unix:///.../redis.sock` (with `?pass=` when the server has a password).
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("redis+unix://{}?pass={p}", self.socket().display()),
            None => format!("redis+unix://{}", self.socket().display()),
        }
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--dir")
            .arg(dir)
            .arg("--appendonly")
            .arg("yes")
            .arg("--appendfsync")
            .arg("always")
            .arg("--save")
            .arg("")
            .arg("--logfile")
            .arg(dir.join("redis.log"));
        if let Some(p) = &self.password {
            cmd.arg("--requirepass").arg(p);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ping().is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within 10 s: {}",
                std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain connection, for a test to look at what the store wrote.
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection_with_timeout(Duration::from_secs(2))
    }

    fn ping(&self) -> redis::RedisResult<()> {
        redis::cmd("PING").query(&mut self.connection()?)
    }

    /// Runs one command and returns its answer.
    pub fn cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query(&mut self.connection().expect("connect to redis-server"))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Every key and value (strings and hashes) the server holds, as text.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let keys: Vec<String> = self.cmd(&["KEYS", "*"]);
        for k in keys {
            let kind: String = self.cmd(&["TYPE", &k]);
            let value = match kind.as_str() {
                "string" => self.cmd::<String>(&["GET", &k]),
                "hash" => format!("{:?}", self.cmd::<Vec<String>>(&["HGETALL", &k])),
                "set" => format!("{:?}", self.cmd::<Vec<String>>(&["SMEMBERS", &k])),
                "zset" => format!("{:?}", self.cmd::<Vec<String>>(&["ZRANGE", &k, "0", "-1"])),
                other => other.to_string(),
            };
            out.push_str(&format!("{k} = {value}\n"));
        }
        out
    }

    /// SIGKILLs the server (what it acknowledged is in its append-only file).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Sends `sig` (`STOP`, `CONT`) to the server: stopped, it accepts connections and
    /// answers nothing.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let sent = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{sig} {pid}");
    }

    /// Starts the server again on the same dir (and append-only file).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
