//! A small key-value service over TCP, one OS thread per client connection, whose
//! requests run against PostgreSQL. Shared by `examples/postgres_service` and
//! `tests/postgres.rs`.
//!
//! The protocol is one request line, one reply line:
//!
//! | request         | reply                                   |
//! |-----------------|-----------------------------------------|
//! | `GET key`       | `OK value`, or `NONE` if the key is unset |
//! | `PUT key value` | `OK` (value: a 64-bit integer)          |
//! | `SUM`           | `OK total` of every value               |
//! | `SLEEP ms`      | `OK` once a database connection has slept `ms` milliseconds (`pg_sleep`), to try time limits |
//! | anything else   | `ERR message`                           |
//!
//! A request that fails (the database is down, slow or refuses) gets `ERR message`, and
//! the connection stays open for the next request.
//!
//! Two backends serve the same protocol: [`BridgeBackend`] (tokio-postgres with a
//! deadpool pool, on a loopbridge loop, each call bounded by a timed wait that cancels
//! the query when it gives up) and [`SyncBackend`] (the blocking `postgres` crate, one
//! database connection per client thread).

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// What a failed request tells its client: one line of text.
pub type Failure = String;

/// One client connection's view of the database.
pub trait Store: Send {
    /// The value stored under `key`, if any.
    fn get(&mut self, key: &str) -> Result<Option<i64>, Failure>;
    /// Stores `value` under `key`.
    fn put(&mut self, key: &str, value: i64) -> Result<(), Failure>;
    /// The sum of every stored value.
    fn sum(&mut self) -> Result<i64, Failure>;
    /// Holds a database connection busy for `duration` (`pg_sleep`), to try time limits.
    fn sleep(&mut self, duration: Duration) -> Result<(), Failure>;
}

/// Where the service's requests go: a store for each client connection.
pub trait Backend: Send + Sync + 'static {
    /// A store for a new client connection.
    fn open(&self) -> Box<dyn Store>;
}

/// The longest `SLEEP`: the load stays bounded whatever a client asks.
pub const LONGEST_SLEEP: Duration = Duration::from_secs(300);

const SLEEP_SQL: &str = "SELECT pg_sleep($1)";

/// The service's SQL, for one table.
struct Sql {
    create: String,
    get: String,
    put: String,
    sum: String,
}

impl Sql {
    /// `table` must be a plain lower-case identifier: it is pasted into the SQL.
    fn new(table: &str) -> Sql {
        let plain = table.starts_with(|c: char| c.is_ascii_lowercase())
            && table
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(plain, "table name {table:?} is not a plain identifier");
        Sql {
            create: format!(
                "CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value BIGINT NOT NULL); \
                 TRUNCATE {table}"
            ),
            get: format!("SELECT value FROM {table} WHERE key = $1"),
            put: format!(
                "INSERT INTO {table} (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            sum: format!("SELECT COALESCE(SUM(value), 0)::BIGINT FROM {table}"),
        }
    }
}

/// Where a `DATABASE_URL` points, without its password: `host:port`.
pub fn server_of(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => {
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
                #[cfg(unix)]
                Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
                None => "localhost".to_owned(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            format!("{host}:{port}")
        }
        Err(_) => "an unparsable DATABASE_URL".to_owned(),
    }
}

/// An error and its causes, on one line: "error connecting to server: Connection refused".
fn failure(error: impl std::error::Error) -> Failure {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = inner.source();
    }
    text.replace(['\r', '\n'], " ")
}

// ---------------------------------------------------------------------------------------
// The bounded call.

/// Waits at most `limit` for `completion`; on giving up, cancels the job and says so.
/// The cancelled job's future is dropped on the loop, with whatever it held (see
/// [`Lease`] for a query under way).
///
/// STAND-IN: loopbridge is getting a call of its own for "wait at most this long, then
/// cancel"; replace this function with it then.
pub fn wait_or_cancel<T>(
    mut completion: loopbridge::Completion<T>,
    limit: Duration,
) -> Result<T, Failure> {
    match completion.wait_timeout(limit) {
        Ok(value) => Ok(value),
        Err(error) if error.is_timeout() => {
            if completion.cancel() {
                Err(format!(
                    "no answer from the database within {} ms; the query was cancelled",
                    limit.as_millis()
                ))
            } else {
                // It resolved between the timeout and the cancel: its result stands.
                completion.wait().map_err(failure)
            }
        }
        Err(error) => Err(failure(error)),
    }
}

// ---------------------------------------------------------------------------------------
// tokio-postgres with a deadpool pool, on the bridge.

/// tokio-postgres connections in a deadpool pool that lives on a loopbridge loop.
#[derive(Clone)]
pub struct BridgeBackend {
    handle: loopbridge::Handle,
    pool: Pool,
    sql: Arc<Sql>,
    limit: Duration,
}

/// One call of the service, as a job on the loop runs it.
enum Call {
    Create,
    Get(String),
    Put(String, i64),
    Sum,
    Sleep(Duration),
}

enum Answer {
    Done,
    Value(Option<i64>),
    Total(i64),
}

async fn run_call(
    client: &deadpool_postgres::Object,
    sql: &Sql,
    call: Call,
) -> Result<Answer, tokio_postgres::Error> {
    Ok(match call {
        Call::Create => {
            client.batch_execute(&sql.create).await?;
            Answer::Done
        }
        Call::Get(key) => {
            let statement = client.prepare_cached(&sql.get).await?;
            let row = client.query_opt(&statement, &[&key]).await?;
            Answer::Value(row.map(|row| row.get(0)))
        }
        Call::Put(key, value) => {
            let statement = client.prepare_cached(&sql.put).await?;
            client.execute(&statement, &[&key, &value]).await?;
            Answer::Done
        }
        Call::Sum => {
            let statement = client.prepare_cached(&sql.sum).await?;
            Answer::Total(client.query_one(&statement, &[]).await?.get(0))
        }
        Call::Sleep(duration) => {
            let statement = client.prepare_cached(SLEEP_SQL).await?;
            client
                .execute(&statement, &[&duration.as_secs_f64()])
                .await?;
            Answer::Done
        }
    })
}

/// A pooled connection held by a job. Dropping a tokio-postgres query does not stop it
/// on the server: the connection stays busy, and the next call given it would queue
/// behind the abandoned query. So a lease dropped before [`Lease::release`] (its job
/// was cancelled mid-query) keeps the connection out of the pool, closing it, and asks
/// the server to cancel the query.
struct Lease {
    connection: Option<deadpool_postgres::Object>,
    handle: loopbridge::Handle,
}

impl Lease {
    /// The call is over: the connection goes back to the pool.
    fn release(mut self) {
        self.connection.take();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let cancel = connection.cancel_token();
            drop(deadpool_postgres::Object::take(connection));
            self.handle
                .job("cancel an abandoned query")
                .add_job(async move {
                    // Best effort: if the server cannot be reached, the query ends with it.
                    let _ = cancel.cancel_query(NoTls).await;
                });
        }
    }
}

impl BridgeBackend {
    /// A pool of at most `pool_size` connections to `url`, serving `table` (created if
    /// missing, emptied). Each call, this first one included, gets `limit` for its
    /// answer.
    pub fn connect(
        handle: loopbridge::Handle,
        url: &str,
        table: &str,
        pool_size: usize,
        limit: Duration,
    ) -> Result<BridgeBackend, Failure> {
        let mut config: tokio_postgres::Config = url.parse().map_err(failure)?;
        config.connect_timeout(limit);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A closed connection is dropped at checkout; an open one is used as is.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // No timeouts in the pool: the timed wait around each call bounds it whole.
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(failure)?;
        let backend = BridgeBackend {
            handle,
            pool,
            sql: Arc::new(Sql::new(table)),
            limit,
        };
        backend.call(Call::Create)?;
        Ok(backend)
    }

    /// Runs `call` with a pooled connection on the loop, waiting at most the limit.
    fn call(&self, call: Call) -> Result<Answer, Failure> {
        let (pool, sql, handle) = (self.pool.clone(), self.sql.clone(), self.handle.clone());
        let completion = self.handle.submit(async move {
            let lease = Lease {
                connection: Some(pool.get().await.map_err(failure)?),
                handle,
            };
            let connection = lease.connection.as_ref().expect("just leased");
            let answer = run_call(connection, &sql, call).await.map_err(failure);
            lease.release();
            answer
        });
        wait_or_cancel(completion, self.limit)?
    }
}

impl Store for BridgeBackend {
    fn get(&mut self, key: &str) -> Result<Option<i64>, Failure> {
        match self.call(Call::Get(key.to_owned()))? {
            Answer::Value(value) => Ok(value),
            _ => unreachable!("GET answers with a value"),
        }
    }

    fn put(&mut self, key: &str, value: i64) -> Result<(), Failure> {
        self.call(Call::Put(key.to_owned(), value)).map(drop)
    }

    fn sum(&mut self) -> Result<i64, Failure> {
        match self.call(Call::Sum)? {
            Answer::Total(total) => Ok(total),
            _ => unreachable!("SUM answers with a total"),
        }
    }

    fn sleep(&mut self, duration: Duration) -> Result<(), Failure> {
        self.call(Call::Sleep(duration)).map(drop)
    }
}

impl Backend for BridgeBackend {
    fn open(&self) -> Box<dyn Store> {
        Box::new(self.clone())
    }
}

// ---------------------------------------------------------------------------------------
// The blocking `postgres` crate.

/// The synchronous `postgres` crate: each client thread opens its own connection on its
/// first request, and again after the connection is lost. Only connecting is bounded
/// (`connect_timeout`): the blocking client has no per-call limit.
pub struct SyncBackend {
    config: postgres::Config,
    sql: Arc<Sql>,
}

impl SyncBackend {
    /// Connections to `url`, serving `table` (created if missing, emptied).
    pub fn connect(
        url: &str,
        table: &str,
        connect_limit: Duration,
    ) -> Result<SyncBackend, Failure> {
        let mut config: postgres::Config = url.parse().map_err(failure)?;
        config.connect_timeout(connect_limit);
        let sql = Arc::new(Sql::new(table));
        let mut client = config.connect(NoTls).map_err(failure)?;
        client.batch_execute(&sql.create).map_err(failure)?;
        Ok(SyncBackend { config, sql })
    }
}

struct Prepared {
    client: postgres::Client,
    get: postgres::Statement,
    put: postgres::Statement,
    sum: postgres::Statement,
    sleep: postgres::Statement,
}

struct SyncStore {
    config: postgres::Config,
    sql: Arc<Sql>,
    connection: Option<Prepared>,
}

impl SyncStore {
    fn with<T>(
        &mut self,
        query: impl FnOnce(&mut Prepared) -> Result<T, postgres::Error>,
    ) -> Result<T, Failure> {
        if self.connection.is_none() {
            let mut client = self.config.connect(NoTls).map_err(failure)?;
            let get = client.prepare(&self.sql.get).map_err(failure)?;
            let put = client.prepare(&self.sql.put).map_err(failure)?;
            let sum = client.prepare(&self.sql.sum).map_err(failure)?;
            let sleep = client.prepare(SLEEP_SQL).map_err(failure)?;
            self.connection = Some(Prepared {
                client,
                get,
                put,
                sum,
                sleep,
            });
        }
        let prepared = self.connection.as_mut().expect("connected above");
        let result = query(prepared).map_err(failure);
        if prepared.client.is_closed() {
            self.connection = None;
        }
        result
    }
}

impl Store for SyncStore {
    fn get(&mut self, key: &str) -> Result<Option<i64>, Failure> {
        self.with(|p| Ok(p.client.query_opt(&p.get, &[&key])?.map(|row| row.get(0))))
    }

    fn put(&mut self, key: &str, value: i64) -> Result<(), Failure> {
        self.with(|p| p.client.execute(&p.put, &[&key, &value]).map(drop))
    }

    fn sum(&mut self) -> Result<i64, Failure> {
        self.with(|p| Ok(p.client.query_one(&p.sum, &[])?.get(0)))
    }

    fn sleep(&mut self, duration: Duration) -> Result<(), Failure> {
        self.with(|p| {
            p.client
                .execute(&p.sleep, &[&duration.as_secs_f64()])
                .map(drop)
        })
    }
}

impl Backend for SyncBackend {
    fn open(&self) -> Box<dyn Store> {
        Box::new(SyncStore {
            config: self.config.clone(),
            sql: self.sql.clone(),
            connection: None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The TCP service.

/// The reply line to one request line.
pub fn respond(line: &str, store: &mut dyn Store) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let outcome = match words.as_slice() {
        ["GET", key] => store.get(key).map(|value| match value {
            Some(value) => format!("OK {value}"),
            None => "NONE".to_owned(),
        }),
        ["PUT", key, value] => match value.parse::<i64>() {
            Ok(value) => store.put(key, value).map(|()| "OK".to_owned()),
            Err(_) => Err(format!("PUT {key}: {value:?} is not a 64-bit integer")),
        },
        ["SUM"] => store.sum().map(|total| format!("OK {total}")),
        ["SLEEP", millis] => match millis.parse::<u64>().map(Duration::from_millis) {
            Ok(duration) if duration <= LONGEST_SLEEP => {
                store.sleep(duration).map(|()| "OK".to_owned())
            }
            _ => Err(format!(
                "SLEEP {millis:?}: expected milliseconds, at most {}",
                LONGEST_SLEEP.as_millis()
            )),
        },
        _ => Err("unknown request: expected GET key, PUT key value, SUM or SLEEP ms".to_owned()),
    };
    outcome.unwrap_or_else(|failure| format!("ERR {failure}"))
}

fn serve_connection(stream: TcpStream, mut store: Box<dyn Store>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    for line in reader.lines() {
        let reply = respond(&line?, store.as_mut());
        writer.write_all(reply.as_bytes())?;
        writer.write_all(b"\n")?;
        writer.flush()?;
    }
    Ok(())
}

/// The service, listening on a free port of 127.0.0.1: an accepting thread and one
/// thread per client connection. A connection's thread ends when its client hangs up.
pub struct Server {
    address: SocketAddr,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `backend`.
    pub fn start(backend: Arc<dyn Backend>) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let address = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let stop_seen = stopping.clone();
        let acceptor = thread::Builder::new()
            .name("kv-accept".to_owned())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop_seen.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let store = backend.open();
                    let spawned = thread::Builder::new()
                        .name("kv-connection".to_owned())
                        .spawn(move || serve_connection(stream, store));
                    if let Err(error) = spawned {
                        // The stream went with the closure: the client sees it closed.
                        eprintln!("kv service: no thread for a connection: {error}");
                    }
                }
            })?;
        Ok(Server {
            address,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    /// Where the service listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections; open ones end as their clients hang up.
    pub fn stop(mut self) {
        self.stop_accepting();
    }

    fn stop_accepting(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            self.stopping.store(true, Ordering::Release);
            // Wakes the accepting thread, which then sees the flag.
            let _ = TcpStream::connect(self.address);
            let _ = acceptor.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_accepting();
    }
}

/// A blocking client of the service.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to the service; a request whose reply takes longer than `reply_limit`
    /// fails with a timeout error.
    pub fn connect(address: SocketAddr, reply_limit: Duration) -> io::Result<Client> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(reply_limit))?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one request line and reads its reply line.
    pub fn request(&mut self, line: &str) -> io::Result<String> {
        self.writer.write_all(format!("{line}\n").as_bytes())?;
        let mut reply = String::new();
        if self.reader.read_line(&mut reply)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the service closed the connection",
            ));
        }
        Ok(reply.trim_end().to_owned())
    }
}

// ---------------------------------------------------------------------------------------
// The load.

/// A small xorshift generator: the load needs no statistical quality, only a fixed mix.
pub struct Requests(u64);

impl Requests {
    /// The request sequence of client `client`.
    pub fn new(client: usize) -> Requests {
        Requests(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next request: 70 % `GET`, 25 % `PUT`, 5 % `SUM`, over 100 keys.
    pub fn next_request(&mut self) -> String {
        let roll = self.next_u64() % 100;
        let key = self.next_u64() % 100;
        match roll {
            0..70 => format!("GET k{key}"),
            70..95 => format!("PUT k{key} {}", self.next_u64() % 1000),
            _ => "SUM".to_owned(),
        }
    }
}

/// What a load run measured.
pub struct LoadReport {
    /// Requests answered without `ERR`.
    pub ok: usize,
    /// Requests answered with `ERR`, or lost with their connection.
    pub errors: usize,
    /// The first error seen, if any.
    pub first_error: Option<String>,
    /// Every answered request's latency, sorted.
    pub latencies: Vec<Duration>,
    /// From the clients' common start to the last one's end.
    pub elapsed: Duration,
}

impl LoadReport {
    /// Answered requests per second.
    pub fn requests_per_second(&self) -> f64 {
        (self.ok + self.errors) as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency below which a `fraction` of the requests were answered.
    pub fn percentile(&self, fraction: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() - 1) as f64 * fraction).round() as usize;
        self.latencies[rank]
    }
}

/// `clients` blocking clients, each on its own thread and connection, each sending
/// `requests` requests one after the other, timed from a common start. Before it, each
/// sends `warm_up` requests that are not counted, so that the service's database
/// connections are open and its statements prepared when the clock starts.
pub fn run_load(
    address: SocketAddr,
    clients: usize,
    warm_up: usize,
    requests: usize,
) -> LoadReport {
    let start = Barrier::new(clients + 1);
    let (results, started) = thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|index| {
                let start = &start;
                scope.spawn(move || {
                    let mut sequence = Requests::new(index);
                    let connected =
                        Client::connect(address, Duration::from_secs(60)).and_then(|mut client| {
                            for _ in 0..warm_up {
                                client.request(&sequence.next_request())?;
                            }
                            Ok(client)
                        });
                    start.wait();
                    let mut client = match connected {
                        Ok(client) => client,
                        Err(error) => {
                            let lost = format!("warm-up: {error}");
                            return (Vec::new(), 0, requests, Some(lost));
                        }
                    };
                    let mut latencies = Vec::with_capacity(requests);
                    let (mut ok, mut errors) = (0, 0);
                    let mut first_error = None;
                    for done in 0..requests {
                        let sent = Instant::now();
                        match client.request(&sequence.next_request()) {
                            Ok(reply) => {
                                latencies.push(sent.elapsed());
                                if reply.starts_with("ERR") {
                                    errors += 1;
                                    first_error.get_or_insert(reply);
                                } else {
                                    ok += 1;
                                }
                            }
                            Err(error) => {
                                errors += requests - done;
                                first_error.get_or_insert(format!("connection lost: {error}"));
                                break;
                            }
                        }
                    }
                    (latencies, ok, errors, first_error)
                })
            })
            .collect();
        start.wait();
        let started = Instant::now();
        let results: Vec<_> = workers
            .into_iter()
            .map(|worker| worker.join().expect("a load client panicked"))
            .collect();
        (results, started)
    });
    let elapsed = started.elapsed();
    let mut report = LoadReport {
        ok: 0,
        errors: 0,
        first_error: None,
        latencies: Vec::with_capacity(clients * requests),
        elapsed,
    };
    for (latencies, ok, errors, first_error) in results {
        report.ok += ok;
        report.errors += errors;
        report.latencies.extend(latencies);
        if report.first_error.is_none() {
            report.first_error = first_error;
        }
    }
    report.latencies.sort_unstable();
    report
}
