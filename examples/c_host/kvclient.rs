//! A C library (a `cdylib`) with a blocking C API over async code: a key-value client
//! that talks to a loopback server, on a `LazyBridge` of the library's own. The header
//! is `kvclient.h`; `host.c` is a C program that uses it (from several pthreads, with a
//! callback, across a fork, and unloading it at the end). `tests/c_host.rs` builds and
//! runs both.
//!
//! Build with `cargo build --example kvclient` (the library lands in
//! `target/debug/examples/`).
//!
//! No panic crosses the C boundary: every exported function runs its body under
//! `catch_unwind` and answers a `KV_*` code; the message of the last error on the
//! calling thread is read with `kv_last_error`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loopbridge::{Bridge, CallMode, LazyBridge, ThreadsafeFn};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const KV_OK: c_int = 0;
const KV_MISSING: c_int = 1;
const KV_ERROR: c_int = -1;
const KV_PANIC: c_int = -2;

/// The library's own loop, started by its first call (in each forked child too).
static RUNTIME: LazyBridge = LazyBridge::new(|| {
    Bridge::builder()
        .thread_name("kvclient")
        .shutdown_timeout(Duration::from_secs(1))
});

/// How long one call may take before it gives up (and cancels its request).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The callback registered with `kv_on_put`, fed through a threadsafe function.
static ON_PUT: Mutex<Option<ThreadsafeFn<(String, String)>>> = Mutex::new(None);

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// The C callback and its user pointer, moved to the loop thread that calls it.
struct CCallback {
    callback: extern "C" fn(*const c_char, *const c_char, *mut c_void),
    user: *mut c_void,
}

// SAFETY: the header requires the callback and its user pointer to be usable from the
// library's loop thread: the library only calls the callback there, never concurrently.
unsafe impl Send for CCallback {}

/// Runs an exported function's body: its error becomes `KV_ERROR`, a panic `KV_PANIC`,
/// each with its message kept for `kv_last_error`.
fn guard(body: impl FnOnce() -> Result<c_int, String>) -> c_int {
    let (code, message) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(code)) => return code,
        Ok(Err(message)) => (KV_ERROR, message),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            (KV_PANIC, format!("panic inside kvclient: {message}"))
        }
    };
    let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
    code
}

/// A C string argument, or an error naming it.
fn text(pointer: *const c_char, what: &str) -> Result<String, String> {
    if pointer.is_null() {
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: the header requires a NUL-terminated string that outlives the call.
    let text = unsafe { CStr::from_ptr(pointer) };
    text.to_str()
        .map(str::to_owned)
        .map_err(|_| format!("{what} is not UTF-8"))
}

/// One request to the server at `port`: a line out, a line back.
async fn request(port: u16, line: String) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    stream.write_all(line.as_bytes()).await?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).await?;
    Ok(answer.trim_end().to_owned())
}

/// Runs `line` as a request, blocking the calling thread.
fn blocking_request(port: u16, line: String) -> Result<String, String> {
    let handle = RUNTIME.try_handle().map_err(|error| error.to_string())?;
    handle
        .submit(request(port, line))
        .wait_timeout_or_cancel(CALL_TIMEOUT)
        .map_err(|error| error.to_string())?
        .map_err(|error| error.to_string())
}

/// The loopback server: `PUT key value` → `OK`, `GET key` → `VALUE value` or `MISSING`.
async fn serve(listener: TcpListener) {
    let store = Arc::new(Mutex::new(HashMap::<String, String>::new()));
    while let Ok((socket, _)) = listener.accept().await {
        let store = store.clone();
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await?;
            let mut words = line.trim_end().splitn(3, ' ');
            let answer = match (words.next(), words.next(), words.next()) {
                (Some("PUT"), Some(key), Some(value)) => {
                    let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                    store.insert(key.to_owned(), value.to_owned());
                    "OK".to_owned()
                }
                (Some("GET"), Some(key), None) => {
                    let store = store.lock().unwrap_or_else(|p| p.into_inner());
                    match store.get(key) {
                        Some(value) => format!("VALUE {value}"),
                        None => "MISSING".to_owned(),
                    }
                }
                _ => "ERROR bad request".to_owned(),
            };
            write.write_all(format!("{answer}\n").as_bytes()).await
        });
    }
}

/// Starts the loopback server on the library's loop; writes its port to `*port`.
///
/// # Safety
///
/// `port` is NULL or points to a writable `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn kv_server_start(port: *mut u16) -> c_int {
    guard(|| {
        if port.is_null() {
            return Err("port is NULL".to_owned());
        }
        let handle = RUNTIME.try_handle().map_err(|error| error.to_string())?;
        let bound = handle
            .block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let bound = listener.local_addr()?.port();
                // A task of the loop's runtime, not a job: it serves until the loop stops.
                tokio::spawn(serve(listener));
                std::io::Result::Ok(bound)
            })
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())?;
        // SAFETY: checked non-NULL; the header requires it to point to a `uint16_t`.
        unsafe { *port = bound };
        Ok(KV_OK)
    })
}

/// Stores `value` under `key`; then feeds the `kv_on_put` callback, if any.
#[no_mangle]
pub extern "C" fn kv_put(port: u16, key: *const c_char, value: *const c_char) -> c_int {
    guard(|| {
        let (key, value) = (text(key, "key")?, text(value, "value")?);
        if key.contains(' ') || key.contains('\n') || value.contains('\n') {
            return Err("a key has no spaces and neither has a newline".to_owned());
        }
        let answer = blocking_request(port, format!("PUT {key} {value}\n"))?;
        if answer != "OK" {
            return Err(format!("server: {answer}"));
        }
        let on_put = ON_PUT.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(on_put) = on_put {
            match on_put.call((key, value), CallMode::Blocking) {
                // A callback registered before a fork belongs to the parent's loop.
                Err(error) if error.is_forked() => {}
                other => other.map_err(|error| error.to_string())?,
            }
        }
        Ok(KV_OK)
    })
}

/// Reads `key`'s value into `buffer` (`capacity` bytes, NUL included): `KV_OK`, or
/// `KV_MISSING` when the key has no value.
///
/// # Safety
///
/// `key` is NULL or a NUL-terminated string; `buffer` is NULL or holds `capacity`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kv_get(
    port: u16,
    key: *const c_char,
    buffer: *mut c_char,
    capacity: usize,
) -> c_int {
    guard(|| {
        let key = text(key, "key")?;
        let answer = blocking_request(port, format!("GET {key}\n"))?;
        if answer == "MISSING" {
            return Ok(KV_MISSING);
        }
        let Some(value) = answer.strip_prefix("VALUE ") else {
            return Err(format!("server: {answer}"));
        };
        if buffer.is_null() || value.len() >= capacity {
            return Err(format!("the value needs {} bytes", value.len() + 1));
        }
        // SAFETY: `buffer` holds `capacity` bytes (the header's contract), more than the
        // value and its NUL.
        unsafe {
            std::ptr::copy_nonoverlapping(value.as_ptr().cast::<c_char>(), buffer, value.len());
            *buffer.add(value.len()) = 0;
        }
        Ok(KV_OK)
    })
}

/// Registers `callback`, called on the library's loop thread after each successful
/// `kv_put`, through a queue of `capacity` events (a put waits while it is full).
#[no_mangle]
pub extern "C" fn kv_on_put(
    callback: Option<extern "C" fn(*const c_char, *const c_char, *mut c_void)>,
    user: *mut c_void,
    capacity: usize,
) -> c_int {
    guard(|| {
        let callback = callback.ok_or("callback is NULL")?;
        if capacity == 0 {
            return Err("capacity is 0".to_owned());
        }
        let target = CCallback { callback, user };
        let handle = RUNTIME.try_handle().map_err(|error| error.to_string())?;
        let on_put = handle.threadsafe_fn(capacity, move |(key, value): (String, String)| {
            let target = &target;
            let (key, value) = (CString::new(key), CString::new(value));
            if let (Ok(key), Ok(value)) = (key, value) {
                (target.callback)(key.as_ptr(), value.as_ptr(), target.user);
            }
        });
        *ON_PUT.lock().unwrap_or_else(|p| p.into_inner()) = Some(on_put);
        Ok(KV_OK)
    })
}

/// Panics inside the library, to show that the panic comes back as `KV_PANIC`.
#[no_mangle]
pub extern "C" fn kv_debug_panic() -> c_int {
    guard(|| panic!("kv_debug_panic was called"))
}

/// Copies the calling thread's last error message into `buffer` (truncated to
/// `capacity` bytes, NUL included); returns its full length.
///
/// # Safety
///
/// `buffer` is NULL or holds `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn kv_last_error(buffer: *mut c_char, capacity: usize) -> usize {
    let copied = catch_unwind(|| {
        LAST_ERROR.with(|last| {
            let last = last.borrow();
            let bytes = last.as_bytes();
            if !buffer.is_null() && capacity > 0 {
                let n = bytes.len().min(capacity - 1);
                // SAFETY: `buffer` holds `capacity` bytes (the header's contract).
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buffer, n);
                    *buffer.add(n) = 0;
                }
            }
            bytes.len()
        })
    });
    copied.unwrap_or(0)
}

/// Unloads the library: the callback's queued events run, then the loop stops, within
/// `timeout_ms`. `KV_OK` if everything ended in time; calls fail afterwards.
#[no_mangle]
pub extern "C" fn kv_shutdown(timeout_ms: c_uint) -> c_int {
    guard(|| {
        // The last caller of the callback goes first: its queued events run.
        drop(ON_PUT.lock().unwrap_or_else(|p| p.into_inner()).take());
        let report = RUNTIME.shutdown(Duration::from_millis(timeout_ms.into()));
        if report.is_clean() {
            Ok(KV_OK)
        } else {
            Err(format!("shutdown: {report}"))
        }
    })
}
