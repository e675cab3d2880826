//! The loopbridge-based key-value service of `examples/postgres_service` against a real
//! PostgreSQL:
//!
//! - stopped at once mid-run and started again: every request in the outage gets a clear
//!   error, every client thread returns, and the service serves again once the server is
//!   back;
//! - given a query that outlasts the service's limit: the request gets a clear error,
//!   the query is cancelled on the server, and its connection is not handed out busy.
//!
//! Needs `DATABASE_URL` pointing at the cluster of `scripts/postgres.sh` (the test stops
//! and starts it with that script: `LOOPBRIDGE_PG_SCRIPT` names another copy); without
//! it the test says it is skipped and passes:
//!
//! ```sh
//! eval "$(scripts/postgres.sh start)"
//! cargo test --test postgres -- --nocapture
//! ```

#[allow(dead_code)]
#[path = "../examples/postgres_service/service.rs"]
mod service;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::thread;
use std::time::{Duration, Instant};

use service::{BridgeBackend, Client, Requests, Server};

/// Each call's bound inside the service.
const CALL_LIMIT: Duration = Duration::from_secs(1);
/// How long a client waits for any reply before calling the request lost: far above
/// `CALL_LIMIT`, so only a request that never returns reaches it.
const REPLY_LIMIT: Duration = Duration::from_secs(30);
/// How long each stage may take to come about.
const DEADLINE: Duration = Duration::from_secs(60);
const CLIENTS: usize = 4;
/// Replies each client must see in a stage before the test moves on.
const ENOUGH: usize = 3;

// The stages, as the clients read them before sending and after the reply.
const UP: u8 = 0;
/// The stop is under way: replies may go either way.
const STOPPING: u8 = 1;
/// The stop has returned: the server is gone.
const DOWN: u8 = 2;
const RESTARTING: u8 = 3;
const FINISHED: u8 = 4;

/// A line the test harness does not capture, so that a skip shows in `cargo test`.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "tests/postgres.rs: {line}");
}

/// One test at a time: one of them stops the server.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERVER: Mutex<()> = Mutex::new(());
    SERVER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Says once, for all the tests, why they are skipped.
fn skip(why: &str) {
    static SAID: Once = Once::new();
    SAID.call_once(|| say(&format!("skipped: {why}")));
}

/// The server to test against, or `None` (the test is then skipped, saying why).
fn database() -> Option<(String, Script)> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        skip("DATABASE_URL is not set (eval \"$(scripts/postgres.sh start)\" first)");
        return None;
    };
    let script = Script::new(&url);
    // One test stops the server: only the script's own cluster may be stopped.
    if let Err(error) = script.run(&["status"]) {
        let why =
            format!("DATABASE_URL is not the running cluster of scripts/postgres.sh: {error}");
        assert!(std::env::var_os("CI").is_none(), "{why}");
        skip(&why);
        return None;
    }
    Some((url, script))
}

/// `scripts/postgres.sh`, aimed at the cluster that `DATABASE_URL` names.
struct Script {
    path: PathBuf,
    port: u16,
}

impl Script {
    fn new(url: &str) -> Script {
        let path = std::env::var_os("LOOPBRIDGE_PG_SCRIPT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres.sh"))
            });
        let config: tokio_postgres::Config = url.parse().expect("DATABASE_URL does not parse");
        let port = config.get_ports().first().copied().unwrap_or(5432);
        Script { path, port }
    }

    fn run(&self, args: &[&str]) -> Result<(), String> {
        let output = Command::new("bash")
            .arg(&self.path)
            .args(args)
            .env("PGPORT", self.port.to_string())
            .output()
            .map_err(|error| format!("cannot run {}: {error}", self.path.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {} failed ({}): {}",
                self.path.display(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// Starts the cluster again when the test ends, however it ends, so that later steps
/// find it running.
struct StartOnDrop<'a>(&'a Script);

impl Drop for StartOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.run(&["start"]) {
            say(&error);
        }
    }
}

enum Event {
    /// The client had `ENOUGH` answers while the server was up.
    Served(usize),
    /// The client had `ENOUGH` errors sent and answered while the server was down.
    SawOutage(usize),
    /// The client had an answer after the restart began.
    ServedAgain(usize),
    /// The client thread is about to return.
    Returned(usize, Outcome),
}

#[derive(Default, Debug)]
struct Outcome {
    answers: usize,
    errors: usize,
    /// A few of the errors, to show what a client was told.
    samples: Vec<String>,
    /// What should not have happened.
    faults: Vec<String>,
}

/// One client: requests one after the other until the stage is `FINISHED`, reporting
/// each stage it has seen enough of.
fn client(
    index: usize,
    address: std::net::SocketAddr,
    stage: Arc<AtomicU8>,
    events: Sender<Event>,
) {
    let mut outcome = Outcome::default();
    let mut requests = Requests::new(index);
    let (mut served, mut outage, mut served_again) = (0, 0, false);
    match Client::connect(address, REPLY_LIMIT) {
        Err(error) => outcome.faults.push(format!("cannot connect: {error}")),
        Ok(mut connection) => loop {
            let before = stage.load(Ordering::SeqCst);
            if before == FINISHED {
                break;
            }
            let request = requests.next_request();
            let reply = connection.request(&request);
            let after = stage.load(Ordering::SeqCst);
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) => {
                    outcome.faults.push(format!("{request}: no reply: {error}"));
                    break;
                }
            };
            if let Some(message) = reply.strip_prefix("ERR ") {
                outcome.errors += 1;
                if message.trim().is_empty() {
                    outcome
                        .faults
                        .push(format!("{request}: an error without a message"));
                }
                if outcome.samples.len() < 3 && !outcome.samples.contains(&reply) {
                    outcome.samples.push(reply.clone());
                }
                if before == UP && after == UP {
                    outcome
                        .faults
                        .push(format!("{request}: {reply} while the server was up"));
                }
                if before == DOWN && after == DOWN {
                    outage += 1;
                    if outage == ENOUGH {
                        let _ = events.send(Event::SawOutage(index));
                    }
                }
            } else if reply == "OK" || reply == "NONE" || reply.starts_with("OK ") {
                outcome.answers += 1;
                if before == DOWN && after == DOWN {
                    outcome
                        .faults
                        .push(format!("{request}: {reply} while the server was down"));
                }
                if before == UP {
                    served += 1;
                    if served == ENOUGH {
                        let _ = events.send(Event::Served(index));
                    }
                }
                if before == RESTARTING && !served_again {
                    served_again = true;
                    let _ = events.send(Event::ServedAgain(index));
                }
            } else {
                outcome
                    .faults
                    .push(format!("{request}: unclear reply {reply:?}"));
            }
        },
    }
    let _ = events.send(Event::Returned(index, outcome));
}

/// Collects the events of the clients, and what each returned.
struct Clients {
    events: Receiver<Event>,
    returned: Vec<Option<Outcome>>,
}

impl Clients {
    /// Waits until every client has reported `wanted` (each reports it once), failing
    /// the test if one returns first or the deadline passes.
    fn wait_for(&mut self, what: &str, wanted: fn(&Event) -> Option<usize>) {
        let deadline = Instant::now() + DEADLINE;
        let mut missing: Vec<usize> = (0..CLIENTS).collect();
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Returned(index, outcome)) => {
                    if missing.contains(&index) {
                        panic!("client {index} returned before it {what}: {outcome:?}");
                    }
                    self.returned[index] = Some(outcome);
                }
                Ok(event) => {
                    if let Some(index) = wanted(&event) {
                        missing.retain(|&m| m != index);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("clients {missing:?} had not {what} after {DEADLINE:?}")
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the test holds a sender"),
            }
        }
    }

    /// Waits until every client has returned, failing the test past the deadline.
    fn wait_returned(&mut self) -> Vec<Outcome> {
        let deadline = Instant::now() + DEADLINE;
        while self.returned.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Returned(index, outcome)) => self.returned[index] = Some(outcome),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    let stuck: Vec<usize> = (0..CLIENTS)
                        .filter(|&i| self.returned[i].is_none())
                        .collect();
                    panic!("clients {stuck:?} had not returned after {DEADLINE:?}");
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the test holds a sender"),
            }
        }
        self.returned
            .iter_mut()
            .map(|o| o.take().expect("checked above"))
            .collect()
    }
}

#[test]
fn requests_fail_clearly_while_postgres_is_down_and_are_served_after_it_restarts() {
    let _alone = one_at_a_time();
    let Some((url, script)) = database() else {
        return;
    };

    let bridge = loopbridge::Bridge::builder()
        .thread_name("pg-test-loop")
        .build()
        .expect("a bridge");
    let backend = BridgeBackend::connect(
        bridge.handle(),
        &url,
        "loopbridge_kv_test",
        CLIENTS,
        CALL_LIMIT,
    )
    .expect("the service cannot reach PostgreSQL");
    let server = Server::start(Arc::new(backend)).expect("the service starts");
    let address = server.address();

    let mut first = Client::connect(address, REPLY_LIMIT).expect("a client connects");
    assert_eq!(first.request("PUT answer 42").unwrap(), "OK");
    assert_eq!(first.request("GET answer").unwrap(), "OK 42");
    assert_eq!(first.request("GET nothing").unwrap(), "NONE");
    assert!(first
        .request("FETCH answer")
        .unwrap()
        .starts_with("ERR unknown request"));

    let stage = Arc::new(AtomicU8::new(UP));
    let (events, received) = mpsc::channel();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let (stage, events) = (stage.clone(), events.clone());
            thread::Builder::new()
                .name(format!("pg-client-{index}"))
                .spawn(move || client(index, address, stage, events))
                .expect("a client thread")
        })
        .collect();
    let mut clients = Clients {
        events: received,
        returned: (0..CLIENTS).map(|_| None).collect(),
    };
    clients.wait_for("been served", |event| match event {
        Event::Served(index) => Some(*index),
        _ => None,
    });

    let restart = StartOnDrop(&script);
    stage.store(STOPPING, Ordering::SeqCst);
    script
        .run(&["stop", "immediate"])
        .expect("the server stops");
    stage.store(DOWN, Ordering::SeqCst);
    clients.wait_for("seen the outage", |event| match event {
        Event::SawOutage(index) => Some(*index),
        _ => None,
    });

    stage.store(RESTARTING, Ordering::SeqCst);
    script.run(&["start"]).expect("the server starts again");
    clients.wait_for("been served again", |event| match event {
        Event::ServedAgain(index) => Some(*index),
        _ => None,
    });
    stage.store(FINISHED, Ordering::SeqCst);
    let outcomes = clients.wait_returned();
    for worker in workers {
        worker.join().expect("a client thread panicked");
    }
    drop(restart);

    for (index, outcome) in outcomes.iter().enumerate() {
        say(&format!(
            "client {index}: {} answers, {} errors, e.g. {:?}",
            outcome.answers, outcome.errors, outcome.samples
        ));
    }
    let faults: Vec<&String> = outcomes.iter().flat_map(|o| &o.faults).collect();
    assert!(faults.is_empty(), "{faults:#?}");

    // And a fresh load after the restart: every request is served.
    let load = service::run_load(address, CLIENTS, 0, 50);
    assert_eq!(load.errors, 0, "after the restart: {:?}", load.first_error);
    assert_eq!(
        first.request("GET answer").unwrap(),
        "OK 42",
        "the data survived the restart"
    );

    drop(first);
    server.stop();
    let report = bridge.shutdown(Duration::from_secs(5));
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn a_query_past_the_limit_is_cancelled_on_the_server_and_its_connection_not_reused() {
    let _alone = one_at_a_time();
    let Some((url, _script)) = database() else {
        return;
    };
    let bridge = loopbridge::Bridge::builder()
        .thread_name("pg-test-loop")
        .build()
        .expect("a bridge");
    // One connection: a call after the slow one would get the same connection back.
    let backend =
        BridgeBackend::connect(bridge.handle(), &url, "loopbridge_kv_limit", 1, CALL_LIMIT)
            .expect("the service cannot reach PostgreSQL");
    let server = Server::start(Arc::new(backend)).expect("the service starts");
    let mut client = Client::connect(server.address(), REPLY_LIMIT).expect("a client connects");
    assert_eq!(client.request("PUT kept 7").unwrap(), "OK");

    // Far longer than the deadline below: only a cancel on the server ends it in time.
    let reply = client.request("SLEEP 120000").unwrap();
    assert!(
        reply.starts_with("ERR no answer from the database within 1000 ms"),
        "{reply}"
    );
    say(&format!("limit: SLEEP 120000 -> {reply}"));

    eventually("a GET is served after the abandoned query", || {
        let reply = client.request("GET kept").unwrap();
        (reply == "OK 7").then_some(()).ok_or(reply)
    });

    // The server no longer runs the abandoned query.
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.connect_timeout(CALL_LIMIT);
    let handle = bridge.handle();
    eventually(
        "the abandoned pg_sleep has been cancelled on the server",
        || {
            let config = config.clone();
            let sleeping = handle.block_on(async move {
                let (watcher, connection) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                let row = watcher
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity \
                     WHERE state = 'active' AND query = 'SELECT pg_sleep($1)'",
                        &[],
                    )
                    .await?;
                Ok::<i64, tokio_postgres::Error>(row.get(0))
            });
            match sleeping {
                Ok(Ok(0)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    );

    drop(client);
    server.stop();
    let report = bridge.shutdown(Duration::from_secs(5));
    assert!(report.is_clean(), "{report:?}");
}

/// Tries `attempt` until it succeeds, failing the test with its last error past the
/// deadline.
fn eventually(what: &str, mut attempt: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match attempt() {
            Ok(()) => return,
            Err(last) if Instant::now() >= deadline => {
                panic!("not yet after {DEADLINE:?}: {what}; last: {last}")
            }
            // A pause between attempts, not a synchronization: the loop ends on success.
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}
