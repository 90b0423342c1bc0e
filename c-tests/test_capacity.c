/* libaccord.a at QEMU scale, end to end through the C API: the hosted build
 * holds QEMU's largest channel set (255 multifd channels + the preempt
 * channel) all arriving before the Hello is read, and a VM with
 * ACCORD_MAX_DEVICES (256) device sections that all take part in
 * switchover-ack. scripts/c-tests.sh runs it plain, under ASan+UBSan and
 * under valgrind (c-tests/Makefile, target "capacity"), and reports the
 * the deepest stack init and the whole run use (scripts/footprint.sh
 * records them).
 *
 * The destination's events are counted after every call: the Hello that
 * assigns 256 held channels makes 258 events in one call, and the header
 * promises that a caller polling after every call loses none
 * (ACCORD_EVENTS_PER_CALL), so none may be dropped or missing. */
#define _POSIX_C_SOURCE 200809L /* pthread_attr_setstack */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accord.h"

#define MULTIFD 255
#define CHANNELS (MULTIFD + 1) /* + preempt */
#define DEVICES ACCORD_MAX_DEVICES

_Static_assert(ACCORD_EVENTS_PER_CALL >= CHANNELS + 2,
               "one call's events (the Hello settling every held channel) fit the queue");

#if ACCORD_MAX_CHANNELS < MULTIFD || ACCORD_MAX_EARLY_CHANNELS < CHANNELS || ACCORD_MAX_DEVICES < 256
#error "libaccord.a's hosted capacities must hold 255 multifd + preempt early and 256 devices"
#endif

static int failures;

#define EXPECT(cond)                                                            \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "test_capacity: line %d: %s\n", __LINE__, #cond);   \
            failures++;                                                         \
        }                                                                       \
    } while (0)
#define OK(call)                                                                \
    do {                                                                        \
        accord_result rc_ = (call);                                             \
        if (rc_ != ACCORD_OK) {                                                 \
            fprintf(stderr, "test_capacity: line %d: %s: %s (%d)\n", __LINE__,  \
                    #call, accord_strerror(rc_), (int)rc_);                     \
            return 1;                                                           \
        }                                                                       \
    } while (0)

static const uint8_t NONCE[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static accord_source src;
static accord_destination dst;
static uint8_t wire[ACCORD_BUFFER_SIZE];
static char names[DEVICES][32];

/* What the destination's events told, polled after every call. */
static struct {
    size_t negotiated, assigned, ready, approved, acked;
    bool channel_seen[CHANNELS];
} seen;

static int drain_destination(void) {
    accord_event ev;
    for (;;) {
        OK(accord_destination_poll_event(&dst, &ev));
        switch (ev.kind) {
        case ACCORD_EVENT_NONE:
            return 0;
        case ACCORD_EVENT_NEGOTIATED: seen.negotiated++; break;
        case ACCORD_EVENT_CHANNEL_ASSIGNED:
            seen.assigned++;
            if (ev.channel.role == ACCORD_ROLE_MULTIFD && ev.channel.index < MULTIFD)
                seen.channel_seen[ev.channel.index] = true;
            else if (ev.channel.role == ACCORD_ROLE_PREEMPT)
                seen.channel_seen[MULTIFD] = true;
            break;
        case ACCORD_EVENT_CHANNELS_READY: seen.ready++; break;
        case ACCORD_EVENT_DEVICE_APPROVED: seen.approved++; break;
        case ACCORD_EVENT_SWITCHOVER_ACKED: seen.acked++; break;
        default: break;
        }
    }
}

static int drain_source(bool *negotiated, bool *ready, bool *acked) {
    accord_event ev;
    for (;;) {
        OK(accord_source_poll_event(&src, &ev));
        if (ev.kind == ACCORD_EVENT_NONE) return 0;
        if (ev.kind == ACCORD_EVENT_NEGOTIATED) *negotiated = true;
        if (ev.kind == ACCORD_EVENT_CHANNELS_READY) *ready = true;
        if (ev.kind == ACCORD_EVENT_SWITCHOVER_ACKED) *acked = true;
        EXPECT(ev.kind != ACCORD_EVENT_FAILED);
    }
}

/* Move the main channel's bytes both ways until nothing is pending. */
static int pump(uint64_t now) {
    for (;;) {
        size_t n = 0, used = 0, moved = 0;
        OK(accord_source_poll_transmit(&src, now, wire, sizeof wire, &n));
        if (n > 0) {
            OK(accord_destination_handle_input(&dst, now, wire, n, &used));
            EXPECT(used == n);
            if (drain_destination()) return 1;
            moved += n;
        }
        OK(accord_destination_poll_transmit(&dst, now, wire, sizeof wire, &n));
        if (n > 0) {
            OK(accord_source_handle_input(&src, now, wire, n, &used));
            EXPECT(used == n);
            moved += n;
        }
        if (moved == 0) return 0;
    }
}

static int run(void) {
    static const accord_cap_offer caps[] = {
        {ACCORD_CAP_RETURN_PATH, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_MULTIFD, ACCORD_LEVEL_REQUIRED, MULTIFD},
        {ACCORD_CAP_POSTCOPY_RAM, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_POSTCOPY_PREEMPT, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_REQUIRED, 0},
    };
    static accord_channel ch[CHANNELS + 1];
    accord_source_config scfg;
    accord_destination_config dcfg;
    accord_enabled agreed[ACCORD_MAX_CAPABILITIES];
    accord_state st;
    size_t n = 0, i, n_agreed = 0;
    uint16_t id = 0, pending = 0;
    uint32_t dropped = 0;
    uint8_t version = 0;
    bool negotiated = false, ready = false, acked = false, allowed = false;

    /* 256 devices on both sides, each taking part in switchover-ack. */
    OK(accord_source_config_default(&scfg));
    scfg.caps = caps;
    scfg.n_caps = sizeof caps / sizeof caps[0];
    OK(accord_source_init(&src, &scfg, NONCE));
    OK(accord_destination_config_default(&dcfg));
    OK(accord_destination_init(&dst, &dcfg, 0));
    for (i = 0; i < DEVICES; i++) {
        snprintf(names[i], sizeof names[i], "0000:%02x:%02x.0/virtio-%zu", (unsigned)(i / 32),
                 (unsigned)(i % 32), i);
        OK(accord_source_add_device(&src, names[i], 0, true, &id));
        EXPECT(id == i);
        OK(accord_destination_register_device(&dst, names[i], 0, true, &id));
        EXPECT(id == i);
    }
    /* One more is refused on both sides: the capacity is exactly the header's. */
    EXPECT(accord_source_add_device(&src, "one-too-many", 0, true, NULL) == ACCORD_E_CAPACITY_EXCEEDED);
    EXPECT(accord_destination_register_device(&dst, "one-too-many", 0, true, NULL) ==
           ACCORD_E_CAPACITY_EXCEEDED);

    /* Every secondary channel connects before the destination reads the Hello. */
    OK(accord_source_start(&src, 0));
    OK(accord_source_channels(&src, ch, CHANNELS + 1, &n));
    EXPECT(n == CHANNELS);
    for (i = 0; i < n; i++) {
        uint8_t pre[ACCORD_PREAMBLE_LEN];
        accord_preamble p;
        accord_assignment a;
        OK(accord_source_channel_preamble(&src, ch[i].role, ch[i].index, pre));
        OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
        OK(accord_destination_accept_channel(&dst, 1, &p, &a));
        EXPECT(a.status == ACCORD_ASSIGN_HELD);
        if (drain_destination()) return 1;
    }
    OK(accord_destination_state(&dst, &st));
    EXPECT(st == ACCORD_STATE_AWAIT_HELLO);

    /* Hello, Welcome, ChannelsReady: every held channel is assigned at once. */
    if (pump(2)) return 1;
    if (drain_source(&negotiated, &ready, &acked)) return 1;
    EXPECT(negotiated && ready);
    OK(accord_source_state(&src, &st));
    EXPECT(st == ACCORD_STATE_PRECOPY);
    OK(accord_destination_state(&dst, &st));
    EXPECT(st == ACCORD_STATE_PRECOPY);
    OK(accord_destination_agreement(&dst, &version, agreed, ACCORD_MAX_CAPABILITIES, &n_agreed));
    EXPECT(n_agreed == 5);
    for (i = 0; i < n_agreed; i++)
        if (agreed[i].id == ACCORD_CAP_MULTIFD) EXPECT(agreed[i].param == MULTIFD);
    OK(accord_destination_pending(&dst, &pending));
    EXPECT(pending == DEVICES);

    /* Approve every device; the ack follows the last approval. */
    for (i = 0; i < DEVICES; i++) {
        OK(accord_destination_approve(&dst, 10, (uint16_t)i));
        if (drain_destination()) return 1;
    }
    if (pump(11)) return 1;
    if (drain_source(&negotiated, &ready, &acked)) return 1;
    EXPECT(acked);
    OK(accord_source_can_switchover(&src, &allowed));
    EXPECT(allowed);
    OK(accord_source_start_switchover(&src, 12));
    if (pump(12)) return 1;
    if (drain_source(&negotiated, &ready, &acked)) return 1;
    OK(accord_source_state(&src, &st));
    EXPECT(st == ACCORD_STATE_SWITCHED_OVER);
    OK(accord_destination_state(&dst, &st));
    EXPECT(st == ACCORD_STATE_SWITCHED_OVER);
    EXPECT(seen.approved == DEVICES && seen.acked == 1);

    /* The destination's events: one per channel, polled after every call. */
    OK(accord_destination_dropped_events(&dst, &dropped));
    {
        size_t missing = 0;
        for (i = 0; i < CHANNELS; i++) missing += !seen.channel_seen[i];
        printf("test_capacity: destination events: NEGOTIATED %zu, CHANNEL_ASSIGNED %zu of %d, "
               "CHANNELS_READY %zu, dropped %u (ACCORD_EVENTS_PER_CALL %d)\n",
               seen.negotiated, seen.assigned, CHANNELS, seen.ready, (unsigned)dropped,
               ACCORD_EVENTS_PER_CALL);
        EXPECT(dropped == 0 && missing == 0 && seen.negotiated == 1 && seen.ready == 1);
    }
    OK(accord_source_deinit(&src));
    OK(accord_destination_deinit(&dst));

    /* 256 idstrs of ACCORD_MAX_NAME_LEN bytes would not fit in one Hello
     * frame: the device that would overflow it is refused when added, not
     * when the Hello is sent. */
    OK(accord_source_init(&src, &scfg, NONCE));
    {
        char name[ACCORD_MAX_NAME_LEN + 1];
        accord_error_info e;
        accord_result rc = ACCORD_OK;
        size_t added = 0;
        memset(name, 'x', ACCORD_MAX_NAME_LEN);
        name[ACCORD_MAX_NAME_LEN] = 0;
        while (added < DEVICES && (rc = accord_source_add_device(&src, name, (uint32_t)added, false, NULL)) == ACCORD_OK)
            added++;
        EXPECT(added < DEVICES && rc == ACCORD_E_CAPACITY_EXCEEDED);
        OK(accord_source_last_error(&src, &e));
        EXPECT(e.detail == ACCORD_DETAIL_VALUE && e.expected == 16384 && e.got > 16384);
        OK(accord_source_start(&src, 0));
        OK(accord_source_poll_transmit(&src, 0, wire, sizeof wire, &n));
        EXPECT(n > 16384 - 100 && n <= ACCORD_BUFFER_SIZE);
        printf("test_capacity: %zu devices of %d-byte idstrs fit in one Hello (%zu bytes)\n", added,
               ACCORD_MAX_NAME_LEN, n);
    }
    OK(accord_source_deinit(&src));
    if (failures) {
        fprintf(stderr, "test_capacity: %d checks failed\n", failures);
        return 1;
    }
    printf("test_capacity: %d multifd + preempt channels held before the Hello, %d devices "
           "approved, switched over\n",
           MULTIFD, DEVICES);
    return 0;
}

/* Sessions initialised and dropped, nothing else: what init alone takes. */
static int init_only(void) {
    accord_source_config scfg;
    accord_destination_config dcfg;
    OK(accord_source_config_default(&scfg));
    OK(accord_source_init(&src, &scfg, NONCE));
    OK(accord_destination_config_default(&dcfg));
    OK(accord_destination_init(&dst, &dcfg, 0));
    OK(accord_source_deinit(&src));
    OK(accord_destination_deinit(&dst));
    return 0;
}

/* Each part runs on a thread whose stack this file provides, painted with
 * a pattern: afterwards, the untouched bottom tells the deepest stack the
 * part used (accord's calls and this file's own frames, stdio included).
 * Sessions live in static storage, so their size is not counted. */
#define STACK_SIZE (1024 * 1024)
#define PAINT 0xa5
static _Alignas(64) unsigned char stack[STACK_SIZE];

struct part {
    int (*fn)(void);
    int status;
};

static void *thread_main(void *arg) {
    struct part *p = arg;
    p->status = p->fn();
    return NULL;
}

/* Run fn on the painted stack; its status, and *used the bytes it touched. */
static int on_painted_stack(int (*fn)(void), size_t *used) {
    pthread_attr_t attr;
    pthread_t t;
    struct part p = {fn, 1};
    size_t untouched = 0;
    memset(stack, PAINT, sizeof stack);
    if (pthread_attr_init(&attr) || pthread_attr_setstack(&attr, stack, sizeof stack) ||
        pthread_create(&t, &attr, thread_main, &p) || pthread_join(t, NULL)) {
        fprintf(stderr, "test_capacity: cannot run the test thread\n");
        return 1;
    }
    while (untouched < sizeof stack && stack[untouched] == PAINT) untouched++;
    *used = sizeof stack - untouched;
    return p.status;
}

int main(void) {
    size_t init = 0, whole = 0;
    /* Valgrind treats a finished thread's stack as gone: no measurement. */
    if (getenv("TEST_CAPACITY_NO_STACK")) return run();
    if (on_painted_stack(init_only, &init) || on_painted_stack(run, &whole)) return 1;
    printf("test_capacity: STACK_INIT_BYTES=%zu STACK_MAX_BYTES=%zu (source and destination "
               "init alone; the whole run; test frames included)\n",
               init, whole);
    return 0;
}
