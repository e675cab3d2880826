//! The service of `examples/sqlite_service`: one SQLite connection owned by a
//! `ThreadBound`, reached by a thread-per-connection TCP server (blocking `wait()`s) and
//! by async code on a bridge's loop (`.await`s), and the clients that check it. Shared
//! with `tests/sqlite_service.rs`, which runs the same service in-process.
//!
//! The protocol, one line per request and per answer:
//! `ADD key n` → the key's new total; `GET key` → its total or `NONE`; `QUIT` → `BYE`.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use loopbridge::{Bridge, ThreadBound};
use rusqlite::{params, Connection, OptionalExtension};

/// How long a request waits for room in the connection's mailbox before it is refused.
const ROOM_WAIT: Duration = Duration::from_secs(10);

/// The database: one connection, on its own thread (a `rusqlite::Connection` is `Send`
/// but not `Sync`; whatever the type, the thread is its only user).
#[derive(Clone)]
pub struct Db {
    conn: ThreadBound<Connection>,
}

impl Db {
    /// Opens (creating) the database at `path`, on the connection's own thread.
    pub fn open(path: &Path) -> Result<Db, String> {
        let path = path.to_owned();
        let conn = ThreadBound::builder()
            .name("sqlite")
            .spawn(move || {
                let conn = Connection::open(path)?;
                conn.execute_batch(
                    "PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     CREATE TABLE IF NOT EXISTS totals (key TEXT PRIMARY KEY, total INTEGER NOT NULL);
                     CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, note TEXT NOT NULL);",
                )?;
                Ok::<_, rusqlite::Error>(conn)
            })
            .map_err(|error| error.to_string())?;
        Ok(Db { conn })
    }

    /// Adds `n` to `key`'s total in one transaction; returns the new total. Blocks.
    pub fn add(&self, key: String, n: i64) -> Result<i64, String> {
        self.conn
            .job("add")
            .call_timeout(move |conn| add(conn, &key, n), ROOM_WAIT)
            .wait()
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())
    }

    /// `key`'s total, if it has one. Blocks.
    pub fn get(&self, key: String) -> Result<Option<i64>, String> {
        self.conn
            .job("get")
            .call_timeout(move |conn| get(conn, &key), ROOM_WAIT)
            .wait()
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())
    }

    /// The sum of every total and the number of audit rows, read from async code.
    pub async fn summary(&self) -> Result<(i64, i64), String> {
        let read = self.conn.call(|conn| {
            let sum: i64 =
                conn.query_row("SELECT COALESCE(SUM(total), 0) FROM totals", [], |r| {
                    r.get(0)
                })?;
            let notes: i64 = conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))?;
            Ok::<_, rusqlite::Error>((sum, notes))
        });
        read.await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())
    }

    /// Writes an audit row from async code: waits for room without blocking the loop.
    pub async fn note(&self, note: String) -> Result<(), String> {
        let permit = self
            .conn
            .reserve()
            .await
            .map_err(|error| error.to_string())?;
        permit
            .call(move |conn| conn.execute("INSERT INTO audit (note) VALUES (?1)", params![note]))
            .await
            .map_err(|error| error.to_string())?
            .map(drop)
            .map_err(|error| error.to_string())
    }

    /// Shuts the connection's thread down (it closes the connection there).
    pub fn close(&self) -> loopbridge::ShutdownReport {
        self.conn.shutdown(Duration::from_secs(10))
    }
}

fn add(conn: &mut Connection, key: &str, n: i64) -> rusqlite::Result<i64> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO totals (key, total) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET total = total + excluded.total",
        params![key, n],
    )?;
    let total = tx.query_row(
        "SELECT total FROM totals WHERE key = ?1",
        params![key],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(total)
}

fn get(conn: &mut Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT total FROM totals WHERE key = ?1",
        params![key],
        |r| r.get(0),
    )
    .optional()
}

/// The TCP server: one OS thread per connection, each request a blocking call.
pub struct Server {
    pub addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(db: Db) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let acceptor = thread::Builder::new()
            .name("sqlite-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let db = db.clone();
                    let _ = thread::Builder::new()
                        .name("sqlite-conn".into())
                        .spawn(move || serve(&db, stream));
                }
            })?;
        Ok(Server {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// Stops accepting (connections being served finish on their own threads).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve(db: &Db, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["ADD", key, n] => match n.parse::<i64>() {
                Ok(n) => db.add((*key).to_owned(), n).map(|total| total.to_string()),
                Err(_) => Err(format!("not a number: {n}")),
            },
            ["GET", key] => db
                .get((*key).to_owned())
                .map(|total| total.map_or_else(|| "NONE".to_owned(), |t| t.to_string())),
            ["QUIT"] => {
                let _ = writeln!(writer, "BYE");
                return;
            }
            _ => Err(format!("unknown request: {line}")),
        };
        let reply = answer.unwrap_or_else(|error| format!("ERR {error}"));
        if writeln!(writer, "{reply}").is_err() {
            return;
        }
    }
}

/// One client: `requests` adds of 1 to a shared key and of its own number to its own
/// key, each answer checked; `Err` says what was wrong.
pub fn client(addr: std::net::SocketAddr, id: usize, requests: usize) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    // One small write per request and per answer: without this, Nagle's algorithm holds
    // each back for the peer's delayed acknowledgement.
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut ask = |request: String| -> Result<String, String> {
        writeln!(writer, "{request}").map_err(|e| e.to_string())?;
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        Ok(line.trim_end().to_owned())
    };
    let own = format!("client-{id}");
    if ask(format!("GET {own}"))? != "NONE" {
        return Err(format!("{own} had a total before its first add"));
    }
    for n in 1..=requests {
        let shared: i64 = ask("ADD shared 1".to_owned())?
            .parse()
            .map_err(|_| "bad answer to ADD shared".to_owned())?;
        if shared < 1 {
            return Err(format!("shared total {shared} after an add"));
        }
        let expected = (id as i64) * (n as i64);
        let total = ask(format!("ADD {own} {id}"))?;
        if total != expected.to_string() {
            return Err(format!(
                "{own}: total {total} after {n} adds, expected {expected}"
            ));
        }
    }
    let total = ask(format!("GET {own}"))?;
    if total != ((id * requests) as i64).to_string() {
        return Err(format!("{own}: GET gave {total}"));
    }
    if ask("QUIT".to_owned())? != "BYE" {
        return Err("no BYE".to_owned());
    }
    Ok(())
}

/// What one run of the whole service did.
#[derive(Debug)]
pub struct Outcome {
    pub shared_total: i64,
    pub sum: i64,
    pub notes: i64,
}

/// Runs the service on a fresh database at `path` with `clients` clients of `requests`
/// requests each, while async code on the loop writes audit notes and reads summaries
/// through the same connection; checks the totals.
pub fn run(path: &Path, clients: usize, requests: usize) -> Result<Outcome, String> {
    let db = Db::open(path)?;
    let server = Server::start(db.clone()).map_err(|e| e.to_string())?;
    let bridge = Bridge::new().map_err(|e| e.to_string())?;

    // Async code on the loop, beside the blocking clients: notes while they run.
    let auditor = {
        let db = db.clone();
        bridge.handle().submit(async move {
            for round in 0..20 {
                db.note(format!("audit round {round}")).await?;
                let (sum, _) = db.summary().await?;
                if sum < 0 {
                    return Err(format!("negative sum {sum}"));
                }
                tokio::task::yield_now().await;
            }
            Ok::<(), String>(())
        })
    };

    let addr = server.addr;
    let threads: Vec<_> = (1..=clients)
        .map(|id| thread::spawn(move || client(addr, id, requests)))
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| "a client panicked".to_owned())??;
    }
    auditor.wait().map_err(|e| e.to_string())??;
    server.stop();

    let reader = db.clone();
    let (sum, notes) = bridge
        .handle()
        .block_on(async move { reader.summary().await })
        .map_err(|e| e.to_string())??;
    let shared_total = db.get("shared".to_owned())?.unwrap_or(0);
    let expected_shared = (clients * requests) as i64;
    if shared_total != expected_shared {
        return Err(format!(
            "shared total {shared_total}, expected {expected_shared}"
        ));
    }
    let own: i64 = (1..=clients).map(|id| (id * requests) as i64).sum();
    if sum != expected_shared + own {
        return Err(format!("sum {sum}, expected {}", expected_shared + own));
    }
    if notes != 20 {
        return Err(format!("{notes} audit notes, expected 20"));
    }
    let report = db.close();
    if !report.is_clean() {
        return Err(format!("unclean shutdown of the connection: {report}"));
    }
    Ok(Outcome {
        shared_total,
        sum,
        notes,
    })
}

/// A database file of its own under the temporary directory, removed on drop.
pub struct TempDb(pub PathBuf);

impl TempDb {
    pub fn new(tag: &str) -> TempDb {
        let path = std::env::temp_dir().join(format!(
            "loopbridge-sqlite-{tag}-{}-{:?}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        TempDb(path)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.0.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}
