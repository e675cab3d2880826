/* A C program that uses kvclient: puts and gets from several pthreads, a C callback fed
 * through the library's threadsafe function, a forked child that uses the library, a
 * panic that comes back as an error code, and a clean unload. Exits 0 if every check
 * holds. Built and run by tests/c_host.rs. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvclient.h"

#define THREADS 4
#define PUTS_PER_THREAD 25

static uint16_t port;
static atomic_int callbacks;

#define CHECK(condition, ...)                                  \
    do {                                                       \
        if (!(condition)) {                                    \
            char message[512];                                 \
            kv_last_error(message, sizeof message);            \
            fprintf(stderr, "host: check failed at line %d: ", __LINE__); \
            fprintf(stderr, __VA_ARGS__);                      \
            fprintf(stderr, " (last error: %s)\n", message);   \
            exit(1);                                           \
        }                                                      \
    } while (0)

static void on_put(const char *key, const char *value, void *user) {
    (void)key;
    (void)value;
    atomic_fetch_add((atomic_int *)user, 1);
}

static void *worker(void *arg) {
    long id = (long)arg;
    char key[64], value[64], got[64];
    for (int n = 0; n < PUTS_PER_THREAD; n++) {
        snprintf(key, sizeof key, "t%ld-k%d", id, n);
        snprintf(value, sizeof value, "v%d", n * 7);
        CHECK(kv_put(port, key, value) == KV_OK, "put %s", key);
        CHECK(kv_get(port, key, got, sizeof got) == KV_OK, "get %s", key);
        CHECK(strcmp(got, value) == 0, "%s is %s, not %s", key, got, value);
    }
    return NULL;
}

int main(void) {
    char got[64];
    CHECK(kv_server_start(&port) == KV_OK, "server start");
    CHECK(kv_on_put(on_put, &callbacks, 8) == KV_OK, "register the callback");

    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; t++) {
        CHECK(pthread_create(&threads[t], NULL, worker, (void *)t) == 0, "pthread_create");
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    CHECK(kv_get(port, "nobody", got, sizeof got) == KV_MISSING, "a missing key");
    printf("threads: %d puts and gets ok\n", THREADS * PUTS_PER_THREAD);

    /* Errors and panics come back as codes with a message. */
    CHECK(kv_put(port, "a key", "v") == KV_ERROR, "a key with a space is refused");
    char message[256];
    kv_last_error(message, sizeof message);
    CHECK(strstr(message, "no spaces") != NULL, "the message says why: %s", message);
    CHECK(kv_debug_panic() == KV_PANIC, "a panic is an error code");
    kv_last_error(message, sizeof message);
    CHECK(strstr(message, "kv_debug_panic") != NULL, "the panic's message: %s", message);
    printf("errors: codes and messages ok\n");

    /* A forked child uses the library: it starts a loop of its own. */
    fflush(stdout);
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        char value[64];
        int ok = kv_get(port, "t0-k1", value, sizeof value) == KV_OK && strcmp(value, "v7") == 0
                 && kv_put(port, "from-child", "hello") == KV_OK;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's calls");
    CHECK(kv_get(port, "from-child", got, sizeof got) == KV_OK && strcmp(got, "hello") == 0,
          "the child's put reached the server");
    printf("fork: the child's calls ok\n");

    /* Unload: queued callbacks run first. */
    CHECK(kv_shutdown(5000) == KV_OK, "a clean shutdown");
    int seen = atomic_load(&callbacks);
    /* Every put in this process, the child's not included (its callback is the parent's). */
    CHECK(seen == THREADS * PUTS_PER_THREAD, "%d callbacks, not %d", seen,
          THREADS * PUTS_PER_THREAD);
    CHECK(kv_get(port, "t0-k1", got, sizeof got) == KV_ERROR, "calls fail after unload");
    printf("callbacks: %d ok\nunload: clean\n", seen);
    return 0;
}
