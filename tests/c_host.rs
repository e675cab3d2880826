//! The C host: builds the `kvclient` example library (a `cdylib`), compiles
//! `examples/c_host/host.c` against it with the system `cc`, and runs it: puts and gets
//! from several pthreads, a C callback fed through a threadsafe function, a forked
//! child using the library, a panic returned as an error code, and a clean unload.
//! Skipped, with a message, where there is no C compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
#[cfg(unix)]
fn a_c_program_uses_the_library_from_threads_a_callback_and_a_fork() {
    if Command::new("cc").arg("--version").output().is_err() {
        eprintln!("c_host: skipped: no C compiler (`cc`) on this system");
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"));
    let built = Command::new(env!("CARGO"))
        .args(["build", "--example", "kvclient"])
        .current_dir(manifest)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building the kvclient cdylib failed");
    let libraries = target.join("debug").join("examples");
    let sources = manifest.join("examples").join("c_host");
    let host = target.join("c_host");
    let compiled = Command::new("cc")
        .arg("-Wall")
        .arg("-Wextra")
        .arg("-Werror")
        .arg("-o")
        .arg(&host)
        .arg(sources.join("host.c"))
        .arg("-I")
        .arg(&sources)
        .arg("-L")
        .arg(&libraries)
        .arg("-lkvclient")
        .arg(format!("-Wl,-rpath,{}", libraries.display()))
        .arg("-pthread")
        .status()
        .expect("cc runs");
    assert!(compiled.success(), "compiling host.c failed");
    let run = Command::new(&host)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the host runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "host failed: {stdout}\n{stderr}");
    for line in [
        "threads: 100 puts and gets ok",
        "errors: codes and messages ok",
        "fork: the child's calls ok",
        "callbacks: 100 ok",
        "unload: clean",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from: {stdout}");
    }
}
