/* A complete migration handshake through the C API alone: this file
 * includes only accord.h (plus libc headers) and links only libaccord.a and
 * libc. Source and destination run in one process and pass bytes through
 * memory: the main channel both ways, 4 multifd channels and the preempt
 * channel by their preambles, two devices taking part in switchover-ack.
 * Exits 0 and prints "minimal: handshake complete" only if both sides reach
 * SWITCHED_OVER with the agreement, every channel named and the ack. */
#include <stdio.h>
#include <string.h>

#include "accord.h"

#define CHECK(call)                                                          \
    do {                                                                     \
        accord_result rc_ = (call);                                          \
        if (rc_ != ACCORD_OK) {                                              \
            fprintf(stderr, "minimal: %s failed: %s (%d) at line %d\n", #call, \
                    accord_strerror(rc_), (int)rc_, __LINE__);               \
            return 1;                                                        \
        }                                                                    \
    } while (0)

static accord_source src;
static accord_destination dst;
static uint8_t buf[ACCORD_BUFFER_SIZE];

/* Move everything pending on the main channel, both ways. */
static int pump(uint64_t now) {
    size_t n = 0, used = 0;
    CHECK(accord_source_poll_transmit(&src, now, buf, sizeof buf, &n));
    if (n > 0) {
        CHECK(accord_destination_handle_input(&dst, now, buf, n, &used));
        if (used != n) return 1;
    }
    CHECK(accord_destination_poll_transmit(&dst, now, buf, sizeof buf, &n));
    if (n > 0) {
        CHECK(accord_source_handle_input(&src, now, buf, n, &used));
        if (used != n) return 1;
    }
    return 0;
}

int main(void) {
    static const char *devices[] = {"ram", "0000:00:02.0/vfio-nic", "0000:00:03.0/vfio-gpu"};
    const accord_cap_offer caps[] = {
        {ACCORD_CAP_RETURN_PATH, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_MULTIFD, ACCORD_LEVEL_REQUIRED, 4},
        {ACCORD_CAP_POSTCOPY_RAM, ACCORD_LEVEL_OPTIONAL, 0},
        {ACCORD_CAP_POSTCOPY_PREEMPT, ACCORD_LEVEL_OPTIONAL, 0},
        {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_REQUIRED, 0},
    };
    const uint8_t nonce[16] = "minimal-nonce-01";
    accord_source_config scfg;
    accord_destination_config dcfg;
    accord_channel chans[16];
    size_t nchan = 0, i, named = 0;
    accord_event ev;
    accord_state s_state, d_state;
    bool allowed = false;
    uint64_t now = 0;
    int acked = 0;

    if (accord_version_number() != ACCORD_VERSION_NUMBER) return 1;
    CHECK(accord_source_config_default(&scfg));
    scfg.caps = caps;
    scfg.n_caps = sizeof caps / sizeof caps[0];
    CHECK(accord_source_init(&src, &scfg, nonce));
    CHECK(accord_destination_config_default(&dcfg));
    CHECK(accord_destination_init(&dst, &dcfg, now));
    for (i = 0; i < 3; i++) {
        CHECK(accord_source_add_device(&src, devices[i], 0, i > 0, NULL));
        CHECK(accord_destination_register_device(&dst, devices[i], 0, i > 0, NULL));
    }
    CHECK(accord_source_start(&src, now));
    /* Pipelining: every channel opens before Welcome. */
    CHECK(accord_source_channels(&src, chans, 16, &nchan));
    for (i = 0; i < nchan; i++) {
        uint8_t pre[ACCORD_PREAMBLE_LEN];
        accord_preamble p;
        accord_assignment a;
        CHECK(accord_source_channel_preamble(&src, chans[i].role, chans[i].index, pre));
        if (accord_preamble_decode(pre, sizeof pre, &p, NULL) != ACCORD_OK) return 1;
        CHECK(accord_destination_accept_channel(&dst, now, &p, &a));
    }
    for (now = 1; now < 1000; now++) {
        if (pump(now)) return 1;
        while (accord_destination_poll_event(&dst, &ev) == ACCORD_OK && ev.kind != ACCORD_EVENT_NONE) {
            if (ev.kind == ACCORD_EVENT_CHANNEL_ASSIGNED) named++;
            if (ev.kind == ACCORD_EVENT_NEGOTIATED) {
                CHECK(accord_destination_approve(&dst, now, 1));
                CHECK(accord_destination_approve(&dst, now, 2));
            }
            if (ev.kind == ACCORD_EVENT_FAILED) return 1;
        }
        while (accord_source_poll_event(&src, &ev) == ACCORD_OK && ev.kind != ACCORD_EVENT_NONE) {
            if (ev.kind == ACCORD_EVENT_SWITCHOVER_ACKED) acked = 1;
            if (ev.kind == ACCORD_EVENT_FAILED) return 1;
        }
        CHECK(accord_source_can_switchover(&src, &allowed));
        if (allowed) {
            CHECK(accord_source_start_switchover(&src, now));
            if (pump(now)) return 1;
            break;
        }
    }
    CHECK(accord_source_state(&src, &s_state));
    CHECK(accord_destination_state(&dst, &d_state));
    if (s_state != ACCORD_STATE_SWITCHED_OVER || d_state != ACCORD_STATE_SWITCHED_OVER) return 1;
    if (named != nchan || nchan != 5 || !acked) return 1;
    CHECK(accord_source_deinit(&src));
    CHECK(accord_destination_deinit(&dst));
    printf("minimal: handshake complete (%u channels named, switchover-ack received, %s %s)\n",
           (unsigned)named, "libaccord", accord_version());
    return 0;
}
