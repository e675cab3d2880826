/* kvclient: a blocking C API over an async key-value client (a Rust library on
 * loopbridge). Every function may be called from any thread. No function lets a panic
 * escape: each returns a KV_* code, and kv_last_error() reads the message of the
 * calling thread's last error. */
#ifndef KVCLIENT_H
#define KVCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KV_OK 0
#define KV_MISSING 1
#define KV_ERROR (-1)
#define KV_PANIC (-2)

/* Called on the library's own loop thread after each successful kv_put, one call at a
 * time, in the order of the puts. `key` and `value` are valid during the call only.
 * It must not block, and `user` must be usable from that thread. */
typedef void (*kv_put_callback)(const char *key, const char *value, void *user);

/* Starts a loopback server on the library's loop; writes its port to *port. */
int kv_server_start(uint16_t *port);

/* Stores `value` under `key` (no spaces in a key, no newline in either). */
int kv_put(uint16_t port, const char *key, const char *value);

/* Reads `key`'s value into `buffer` (`capacity` bytes, NUL included): KV_OK, or
 * KV_MISSING when `key` has no value. */
int kv_get(uint16_t port, const char *key, char *buffer, size_t capacity);

/* Registers `callback` (replacing an earlier one), fed through a queue of `capacity`
 * events: a kv_put waits while the queue is full. A callback registered before a fork
 * is not called in the child. */
int kv_on_put(kv_put_callback callback, void *user, size_t capacity);

/* Panics inside the library: returns KV_PANIC (a demonstration of the guard). */
int kv_debug_panic(void);

/* Copies the calling thread's last error message into `buffer` (truncated, always
 * NUL-terminated when capacity > 0); returns the message's full length. */
size_t kv_last_error(char *buffer, size_t capacity);

/* Unloads the library: runs the callback's queued events, stops the loop within
 * `timeout_ms`; KV_OK if everything ended in time. Later calls fail with KV_ERROR. */
int kv_shutdown(unsigned timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
