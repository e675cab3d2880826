//! Bad configuration is refused where it is given, with an error that says what is wrong,
//! never as a panic later on another thread.

use std::io::ErrorKind;

use loopbridge::{Bridge, ThreadPool};

#[test]
fn a_loop_thread_name_with_a_nul_byte_is_refused_by_build() {
    let error = Bridge::builder()
        .thread_name("loop\0x")
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("NUL"), "{error}");
}

#[test]
fn a_pool_name_with_a_nul_byte_is_refused_by_build() {
    let error = ThreadPool::builder().name("pool\0x").build().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("NUL"), "{error}");
}
