//! The replicas as child processes, and traffic to those that are live: a replica is taken
//! out of the traffic before a test stops or kills it, so that only requests to live
//! replicas count.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::process::{log_text, Sidecar};
use crate::WAIT;

/// A replica as the traffic sees it.
pub struct Slot {
    pub proxy: SocketAddr,
    live: AtomicBool,
    in_flight: AtomicUsize,
}

pub struct Member {
    pub sidecar: Sidecar,
    slot: Arc<Slot>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub served: usize,
    /// (replica's proxy address, path, what came back)
    pub failed: Vec<(SocketAddr, String, String)>,
}

pub struct Fleet {
    config: PathBuf,
    pub members: Vec<Option<Member>>,
    slots: Arc<RwLock<Vec<Arc<Slot>>>>,
    report: Arc<Mutex<Report>>,
    stop: Arc<AtomicBool>,
    traffic: JoinSet<()>,
    started: Instant,
    /// Logs of replicas that are gone.
    logs: Vec<Arc<Mutex<Vec<String>>>>,
}

impl Fleet {
    pub async fn start(config: &Path, n: usize) -> Fleet {
        let mut fleet = Fleet {
            config: config.to_path_buf(),
            members: Vec::new(),
            slots: Arc::new(RwLock::new(Vec::new())),
            report: Arc::default(),
            stop: Arc::default(),
            traffic: JoinSet::new(),
            started: Instant::now(),
            logs: Vec::new(),
        };
        for _ in 0..n {
            let s = Sidecar::start(&fleet.config).await;
            fleet.add(s);
        }
        fleet
    }

    /// Starts a replica (not yet in the traffic).
    pub async fn spawn(&self) -> Sidecar {
        Sidecar::start(&self.config).await
    }

    /// Adds a running replica to the fleet and the traffic.
    pub fn add(&mut self, sidecar: Sidecar) {
        let slot = Arc::new(Slot {
            proxy: sidecar.proxy,
            live: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
        });
        self.slots.write().unwrap().push(Arc::clone(&slot));
        self.members.push(Some(Member { sidecar, slot }));
    }

    pub fn index_of(&self, pid: u32) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.as_ref().and_then(|m| m.sidecar.child.id()) == Some(pid))
    }

    pub fn member(&self, i: usize) -> &Sidecar {
        &self.members[i].as_ref().expect("a running replica").sidecar
    }

    /// Takes replica `i` out of the traffic; waits (bounded) for its requests under way.
    pub async fn drain(&self, i: usize) {
        let slot = &self.members[i].as_ref().expect("running").slot;
        slot.live.store(false, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs(3);
        while slot.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn resume(&self, i: usize) {
        let slot = &self.members[i].as_ref().expect("running").slot;
        slot.live.store(true, Ordering::Release);
    }

    /// SIGSTOPs replica `i`; returns once it is stopped. kill(2) returns when the signal is
    /// queued, and a multi-threaded process stops only when one of its threads (often the
    /// main one, idle in `block_on`) gets to take the signal: until then its runtime's
    /// workers run on, and may read an answer and store it as if nothing had happened.
    pub async fn sigstop(&self, i: usize) {
        let pid = self.signal(i, "STOP");
        let deadline = Instant::now() + WAIT;
        while !stopped(pid) {
            assert!(
                Instant::now() < deadline,
                "replica {i} (pid {pid}) not stopped within {WAIT:?} of SIGSTOP"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// SIGCONTs replica `i`.
    pub fn sigcont(&self, i: usize) {
        self.signal(i, "CONT");
    }

    /// Sends `sig` to replica `i`; its pid.
    fn signal(&self, i: usize, sig: &str) -> u32 {
        let pid = self.member(i).child.id().expect("running");
        let sent = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{sig} {pid}");
        pid
    }

    /// SIGKILLs replica `i` (taken out of the traffic first).
    pub async fn kill(&mut self, i: usize, ctx: &str) {
        self.drain(i).await;
        let member = self.members[i].take().expect("running");
        self.logs.push(member.sidecar.kill(ctx).await);
    }

    pub fn run_traffic(&mut self, tasks: usize) {
        for t in 0..tasks {
            let (slots, report, stop) = (
                Arc::clone(&self.slots),
                Arc::clone(&self.report),
                Arc::clone(&self.stop),
            );
            self.traffic.spawn(traffic(t, slots, report, stop));
        }
    }

    pub async fn keep_going_until(&self, total: Duration) {
        tokio::time::sleep_until(self.started + total).await;
    }

    pub async fn stop_traffic(&mut self) -> Report {
        self.stop.store(true, Ordering::Release);
        while self.traffic.join_next().await.is_some() {}
        std::mem::take(&mut *self.report.lock().unwrap())
    }

    /// SIGTERMs every replica (each must exit 0); every replica's log, lines.
    pub async fn stop(mut self) -> Vec<String> {
        for m in self.members.iter_mut() {
            if let Some(m) = m.take() {
                self.logs.push(m.sidecar.terminate("the end").await);
            }
        }
        self.logs.iter().flat_map(|l| l.lock().unwrap().clone()).collect()
    }

    /// Every running replica's log lines that contain `pattern`, by replica.
    pub fn grep(&self, pattern: &str) -> String {
        let mut out = String::new();
        for (i, m) in self.members.iter().enumerate() {
            let Some(m) = m else { continue };
            for line in m
                .sidecar
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(pattern))
            {
                out.push_str(&format!("[{i}] {line}\n"));
            }
        }
        out
    }

    /// The last lines of replica `i`'s log.
    pub fn log(&self, i: usize) -> String {
        log_text(&self.member(i).log)
    }
}

/// Whether every thread of process `pid` is stopped (state `T` in /proc/PID/task/*/stat).
fn stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut threads = 0;
    for task in tasks {
        // A thread that ends meanwhile: look again.
        let Ok(stat) = task.and_then(|t| std::fs::read_to_string(t.path().join("stat"))) else {
            return false;
        };
        // The state follows the command name, which is in parentheses and may hold anything.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if state != Some("T") {
            return false;
        }
        threads += 1;
    }
    threads > 0
}

const PATHS: [(&str, Option<&str>); 4] = [
    ("/tw/users?login=alice", Some("alice")),
    ("/tw/users?login=bob", Some("bob")),
    ("/app/users", None),
    ("/me/users", None),
];

async fn traffic(
    seed: usize,
    slots: Arc<RwLock<Vec<Arc<Slot>>>>,
    report: Arc<Mutex<Report>>,
    stop: Arc<AtomicBool>,
) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("a client");
    let mut n = seed;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let slot = {
            let slots = slots.read().unwrap();
            let live: Vec<_> = slots
                .iter()
                .filter(|s| s.live.load(Ordering::Acquire))
                .cloned()
                .collect();
            if live.is_empty() {
                None
            } else {
                Some(Arc::clone(&live[n % live.len()]))
            }
        };
        let Some(slot) = slot else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        if !slot.live.load(Ordering::Acquire) {
            slot.in_flight.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let (path, user) = PATHS[n % PATHS.len()];
        let mut req = http.get(format!("http://{}{path}", slot.proxy));
        if let Some(u) = user {
            req = req.header("x-token-user", u);
        }
        let outcome = match req.send().await {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("{}: {}", r.status(), r.text().await.unwrap_or_default())),
            Err(e) => Err(e.to_string()),
        };
        // A replica the test took out (to stop or kill it) does not count.
        let counted = slot.live.load(Ordering::Acquire);
        slot.in_flight.fetch_sub(1, Ordering::AcqRel);
        {
            let mut r = report.lock().unwrap();
            match outcome {
                Ok(()) => r.served += 1,
                Err(e) if counted => r.failed.push((slot.proxy, path.to_string(), e)),
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
