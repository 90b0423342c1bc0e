/* cmocka tests of the whole C API of libaccord.a: every exported function,
 * its success path and its error paths (NULL pointers, bad enum values,
 * use before init, wrong role, misalignment, too-small buffers, protocol
 * errors with their detail). scripts/c-tests.sh checks that every function
 * declared in include/accord.h is called in this file, and runs it plain,
 * under ASan+UBSan and under valgrind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "accord.h"

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */

static const uint8_t NONCE[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static const accord_cap_offer FULL_CAPS[] = {
    {ACCORD_CAP_RETURN_PATH, ACCORD_LEVEL_REQUIRED, 0},
    {ACCORD_CAP_MULTIFD, ACCORD_LEVEL_REQUIRED, 4},
    {ACCORD_CAP_POSTCOPY_RAM, ACCORD_LEVEL_OPTIONAL, 0},
    {ACCORD_CAP_POSTCOPY_PREEMPT, ACCORD_LEVEL_OPTIONAL, 0},
    {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_REQUIRED, 0},
};
#define N_FULL_CAPS (sizeof FULL_CAPS / sizeof FULL_CAPS[0])

static const char *const DEVICES[3] = {"ram", "0000:00:02.0/vfio-nic", "0000:00:03.0/vfio-gpu"};

/* Sessions live in static storage (as a C caller may do), zeroed between tests. */
static accord_source src;
static accord_destination dst;
static uint8_t wire[ACCORD_BUFFER_SIZE];

static int reset(void **state) {
    (void)state;
    memset(&src, 0, sizeof src);
    memset(&dst, 0, sizeof dst);
    return 0;
}

#define OK(call) assert_int_equal((call), ACCORD_OK)

static void make_source(const accord_cap_offer *caps, size_t n, const bool wants[3]) {
    accord_source_config cfg;
    int i;
    OK(accord_source_config_default(&cfg));
    cfg.caps = caps;
    cfg.n_caps = n;
    OK(accord_source_init(&src, &cfg, NONCE));
    for (i = 0; i < 3; i++) {
        uint16_t id = 99;
        OK(accord_source_add_device(&src, DEVICES[i], 0, wants[i], &id));
        assert_int_equal(id, i);
    }
}

static void make_destination(const accord_cap_offer *changes, size_t n, const bool supports[3]) {
    accord_destination_config cfg;
    int i;
    OK(accord_destination_config_default(&cfg));
    cfg.caps = changes;
    cfg.n_caps = n;
    OK(accord_destination_init(&dst, &cfg, 0));
    for (i = 0; i < 3; i++) {
        uint16_t id = 99;
        OK(accord_destination_register_device(&dst, DEVICES[i], 0, supports[i], &id));
        assert_int_equal(id, i);
    }
}

static const bool ACK_12[3] = {false, true, true};

static void make_pair(void) {
    make_source(FULL_CAPS, N_FULL_CAPS, ACK_12);
    make_destination(NULL, 0, ACK_12);
}

/* Move the main channel's bytes both ways until nothing is pending. */
static void pump(uint64_t now) {
    int round;
    for (round = 0; round < 8; round++) {
        size_t n = 0, used = 0, moved = 0;
        accord_state st;
        OK(accord_source_poll_transmit(&src, now, wire, sizeof wire, &n));
        OK(accord_destination_state(&dst, &st));
        if (n > 0 && st != ACCORD_STATE_FAILED) {
            accord_destination_handle_input(&dst, now, wire, n, &used);
            moved += n;
        }
        OK(accord_destination_poll_transmit(&dst, now, wire, sizeof wire, &n));
        OK(accord_source_state(&src, &st));
        if (n > 0 && st != ACCORD_STATE_FAILED) {
            accord_source_handle_input(&src, now, wire, n, &used);
            moved += n;
        }
        if (moved == 0) return;
    }
}

/* Open every channel the source lists on the destination. */
static void open_channels(uint64_t now) {
    accord_channel ch[64];
    size_t n = 0, i;
    OK(accord_source_channels(&src, ch, 64, &n));
    for (i = 0; i < n; i++) {
        uint8_t pre[ACCORD_PREAMBLE_LEN];
        accord_preamble p;
        accord_assignment a;
        OK(accord_source_channel_preamble(&src, ch[i].role, ch[i].index, pre));
        OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
        OK(accord_destination_accept_channel(&dst, now, &p, &a));
        assert_int_equal(a.channel.role, ch[i].role);
        assert_int_equal(a.channel.index, ch[i].index);
    }
}

static size_t drain_source(accord_event *out, size_t cap) {
    size_t n = 0;
    accord_event ev;
    for (;;) {
        OK(accord_source_poll_event(&src, &ev));
        if (ev.kind == ACCORD_EVENT_NONE) return n;
        if (n < cap) out[n] = ev;
        n++;
    }
}

static size_t drain_destination(accord_event *out, size_t cap) {
    size_t n = 0;
    accord_event ev;
    for (;;) {
        OK(accord_destination_poll_event(&dst, &ev));
        if (ev.kind == ACCORD_EVENT_NONE) return n;
        if (n < cap) out[n] = ev;
        n++;
    }
}

static int has_event(const accord_event *evs, size_t n, accord_event_kind kind) {
    size_t i;
    for (i = 0; i < n; i++)
        if (evs[i].kind == kind) return 1;
    return 0;
}

static accord_error_info src_error(void) {
    accord_error_info e;
    OK(accord_source_last_error(&src, &e));
    return e;
}

static accord_error_info dst_error(void) {
    accord_error_info e;
    OK(accord_destination_last_error(&dst, &e));
    return e;
}

static const char *format(const accord_error_info *e) {
    static char text[ACCORD_DEVICE_NAME_SIZE + 128];
    OK(accord_error_format(e, text, sizeof text, NULL));
    return text;
}

/* Run the happy path up to Precopy with channels ready. */
static void negotiate(void) {
    make_pair();
    OK(accord_source_start(&src, 0));
    open_channels(0);
    pump(1);
}

/* ------------------------------------------------------------------ */
/* Library-wide functions                                              */

static void test_version(void **state) {
    (void)state;
    assert_string_equal(accord_version(), ACCORD_VERSION_STRING);
    assert_int_equal(accord_version_number(), ACCORD_VERSION_NUMBER);
}

static void test_strerror(void **state) {
    static const accord_result protocol[] = {
        ACCORD_E_BAD_MAGIC, ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION, ACCORD_E_DEVICE_UNSUPPORTED,
        ACCORD_E_WRONG_NONCE, ACCORD_E_ALREADY_APPROVED, ACCORD_E_ACK_TIMEOUT,
        ACCORD_E_INVALID_STATE, ACCORD_E_NONCE_MISMATCH, ACCORD_E_LEGACY_NOT_A_COMMAND,
        ACCORD_ERR_NULL_POINTER, ACCORD_ERR_BAD_ENUM, ACCORD_ERR_NOT_INITIALIZED,
        ACCORD_ERR_WRONG_ROLE, ACCORD_ERR_MISALIGNED, ACCORD_ERR_INVALID_UTF8, ACCORD_NEED_MORE};
    size_t i;
    (void)state;
    assert_string_equal(accord_strerror(ACCORD_OK), "success");
    assert_string_equal(accord_strerror(ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION),
                        "capability required by source, missing on destination");
    assert_string_equal(accord_strerror(ACCORD_ERR_NULL_POINTER), "null pointer argument");
    assert_string_equal(accord_strerror(-5), "unknown result code");
    assert_string_equal(accord_strerror(1999), "unknown result code");
    for (i = 0; i < sizeof protocol / sizeof protocol[0]; i++) {
        assert_non_null(accord_strerror(protocol[i]));
        assert_string_not_equal(accord_strerror(protocol[i]), "unknown result code");
        /* Static: the same pointer every time. */
        assert_ptr_equal(accord_strerror(protocol[i]), accord_strerror(protocol[i]));
    }
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(accord_capability_name(ACCORD_CAP_SWITCHOVER_ACK), "switchover-ack");
    assert_string_equal(accord_capability_name(ACCORD_CAP_MULTIFD), "multifd");
    assert_string_equal(accord_capability_name(0x8001), "vendor");
    assert_string_equal(accord_capability_name(0), "unknown");
    assert_string_equal(accord_role_name(ACCORD_ROLE_PREEMPT), "preempt");
    assert_string_equal(accord_role_name(ACCORD_ROLE_DEVICE_STATE), "device-state");
    assert_string_equal(accord_role_name(200), "unknown");
}

static void test_error_format(void **state) {
    accord_error_info e;
    char small[16];
    size_t needed = 0;
    (void)state;
    memset(&e, 0, sizeof e);
    e.code = ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION;
    e.detail = ACCORD_DETAIL_CAPABILITY;
    e.capability = ACCORD_CAP_SWITCHOVER_ACK;
    assert_string_equal(format(&e),
                        "capability required by source, missing on destination (E202): "
                        "capability switchover-ack");
    /* Too small: truncated, NUL-terminated, the full length reported. */
    assert_int_equal(accord_error_format(&e, small, sizeof small, &needed), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(needed, strlen(format(&e)));
    /* Every detail kind. */
    e.code = ACCORD_E_DEVICE_UNSUPPORTED;
    e.detail = ACCORD_DETAIL_DEVICE;
    strcpy(e.device, "nic");
    e.instance = 1;
    assert_string_equal(format(&e), "destination cannot serve switchover-ack for device (E206): "
                                    "device \"nic\" instance 1");
    e.code = ACCORD_E_NO_COMMON_VERSION;
    e.detail = ACCORD_DETAIL_VERSIONS;
    e.source_min = 1, e.source_max = 1, e.destination_min = 2, e.destination_max = 3;
    assert_string_equal(format(&e), "no common protocol version (E201): source versions 1..=1, "
                                    "destination versions 2..=3");
    e.code = ACCORD_E_CHANNELS_TIMEOUT;
    e.detail = ACCORD_DETAIL_MISSING_CHANNELS;
    e.role = ACCORD_ROLE_MULTIFD, e.index = 2, e.missing = 3;
    assert_string_equal(format(&e), "timed out waiting for channels (E503): 3 channel(s) missing, "
                                    "first multifd 2");
    e.code = ACCORD_E_CAPABILITY_DEPENDENCY;
    e.detail = ACCORD_DETAIL_DEPENDENCY;
    e.capability = 5, e.needs = 1;
    assert_string_equal(format(&e), "capability dependency not met (E204): capability "
                                    "switchover-ack needs return-path");
    e.code = ACCORD_E_UNEXPECTED_FRAME;
    e.detail = ACCORD_DETAIL_FRAME;
    e.frame = 5;
    assert_string_equal(format(&e), "frame not allowed in this state (E108): frame type 0x05");
    e.code = ACCORD_E_WRONG_NONCE;
    e.detail = ACCORD_DETAIL_CHANNEL;
    e.role = ACCORD_ROLE_PREEMPT, e.index = 0;
    assert_string_equal(format(&e), "channel belongs to another migration (wrong nonce) (E301): "
                                    "channel preempt 0");
    e.code = ACCORD_E_UNKNOWN_DEVICE;
    e.detail = ACCORD_DETAIL_VALUE;
    e.expected = 3, e.got = 7;
    assert_string_equal(format(&e), "unknown device (E401): expected 3, got 7");
    e.code = ACCORD_ERR_BAD_ENUM;
    e.detail = ACCORD_DETAIL_ARGUMENT;
    e.argument = 2, e.expected = 3, e.got = 9;
    assert_string_equal(format(&e), "unknown enumeration value (E1002): argument 2, value 9, "
                                    "largest known 3");
    e.code = ACCORD_E_LOCAL_ABORT;
    e.detail = ACCORD_DETAIL_NONE;
    assert_string_equal(format(&e), "aborted by caller (E604)");
    /* Errors of the call itself. */
    assert_int_equal(accord_error_format(NULL, small, sizeof small, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_error_format(&e, NULL, 10, NULL), ACCORD_ERR_NULL_POINTER);
    e.detail = 77;
    assert_int_equal(accord_error_format(&e, small, sizeof small, NULL), ACCORD_ERR_BAD_ENUM);
    e.detail = ACCORD_DETAIL_CHANNEL;
    e.role = 9;
    assert_int_equal(accord_error_format(&e, small, sizeof small, NULL), ACCORD_ERR_BAD_ENUM);
}

/* ------------------------------------------------------------------ */
/* The boundary: NULL, init, role, alignment, enums                    */

static void test_config_defaults(void **state) {
    accord_source_config s;
    accord_destination_config d;
    (void)state;
    OK(accord_source_config_default(&s));
    assert_null(s.caps);
    assert_int_equal(s.n_caps, 0);
    assert_int_equal(s.version_min, 1);
    assert_int_equal(s.welcome_timeout_ms, 5000);
    assert_int_equal(s.channels_timeout_ms, 15000);
    assert_int_equal(s.ack_timeout_ms, 300000);
    assert_int_equal(s.ack_policy, ACCORD_ACK_POLICY_FAIL);
    OK(accord_destination_config_default(&d));
    assert_int_equal(d.hello_timeout_ms, 5000);
    assert_int_equal(d.channels_timeout_ms, 10000);
    assert_int_equal(d.switchover_timeout_ms, 3600000);
    assert_int_equal(accord_source_config_default(NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_config_default(NULL), ACCORD_ERR_NULL_POINTER);
}

static void test_use_before_init(void **state) {
    accord_event ev;
    accord_error_info e;
    accord_state st;
    uint64_t t;
    size_t n;
    bool b;
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    accord_preamble p;
    uint16_t id;
    uint32_t dropped;
    (void)state;
    /* Zeroed storage: every call but init says NOT_INITIALIZED. */
    assert_int_equal(accord_source_start(&src, 0), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_add_device(&src, "x", 0, false, NULL), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_handle_input(&src, 0, wire, 1, &n), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_poll_transmit(&src, 0, wire, 1, &n), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_poll_event(&src, &ev), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_poll_timeout(&src, &t), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_handle_timeout(&src, 0), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_can_switchover(&src, &b), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_state(&src, &st), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_last_error(&src, &e), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_channel_preamble(&src, 1, 0, pre), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_deinit(&src), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_destination_handle_input(&dst, 0, wire, 1, &n), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_destination_approve(&dst, 0, 0), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_destination_revoke(&dst, 0, 0), ACCORD_ERR_NOT_INITIALIZED);
    memset(&p, 0, sizeof p);
    assert_int_equal(accord_destination_accept_channel(&dst, 0, &p, NULL), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_destination_find_device(&dst, "ram", 0, &id), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_destination_dropped_events(&dst, &dropped), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_destination_deinit(&dst), ACCORD_ERR_NOT_INITIALIZED);
    /* After deinit too. */
    make_pair();
    OK(accord_source_deinit(&src));
    OK(accord_destination_deinit(&dst));
    assert_int_equal(accord_source_state(&src, &st), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_destination_state(&dst, &st), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_source_deinit(&src), ACCORD_ERR_NOT_INITIALIZED);
}

static void test_null_handles(void **state) {
    accord_source_config sc;
    accord_destination_config dc;
    accord_state st;
    (void)state;
    OK(accord_source_config_default(&sc));
    OK(accord_destination_config_default(&dc));
    assert_int_equal(accord_source_init(NULL, &sc, NONCE), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_init(NULL, &dc, 0), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_start(NULL, 0), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_state(NULL, &st), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_state(NULL, &st), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_deinit(NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_deinit(NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_last_error(NULL, NULL), ACCORD_ERR_NULL_POINTER);
}

static void test_null_arguments_recorded(void **state) {
    accord_error_info e;
    size_t n;
    (void)state;
    make_pair();
    /* A NULL argument on a live handle: the code, and its position in the detail. */
    assert_int_equal(accord_source_poll_transmit(&src, 0, NULL, 10, &n), ACCORD_ERR_NULL_POINTER);
    e = src_error();
    assert_int_equal(e.code, ACCORD_ERR_NULL_POINTER);
    assert_int_equal(e.detail, ACCORD_DETAIL_ARGUMENT);
    assert_int_equal(e.argument, 3);
    assert_string_equal(format(&e), "null pointer argument (E1001): argument 3");
    assert_int_equal(accord_source_poll_transmit(&src, 0, wire, sizeof wire, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(src_error().argument, 5);
    assert_int_equal(accord_source_handle_input(&src, 0, NULL, 4, &n), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_poll_event(&src, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_poll_timeout(&src, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_can_switchover(&src, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_state(&src, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_device_count(&src, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_device(&src, 0, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_dropped_events(&src, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_channels(&src, NULL, 0, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_agreement(&src, NULL, NULL, 0, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_last_error(&src, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_add_device(&src, NULL, 0, false, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(src_error().argument, 2);
    assert_int_equal(accord_destination_handle_input(&dst, 0, NULL, 4, &n), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(dst_error().argument, 3);
    assert_int_equal(accord_destination_poll_transmit(&dst, 0, wire, 4, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_poll_event(&dst, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_poll_timeout(&dst, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_accept_channel(&dst, 0, NULL, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_pending(&dst, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_device_count(&dst, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_device(&dst, 0, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_find_device(&dst, NULL, 0, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_agreement(&dst, NULL, NULL, 0, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_register_device(&dst, NULL, 0, true, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_destination_last_error(&dst, NULL), ACCORD_ERR_NULL_POINTER);
    /* Empty input with a NULL pointer is fine. */
    OK(accord_destination_handle_input(&dst, 0, NULL, 0, &n));
    assert_int_equal(n, 0);
}

static void test_wrong_role(void **state) {
    accord_state st;
    (void)state;
    make_pair();
    /* A destination passed as a source, and the reverse. */
    assert_int_equal(accord_source_state((const accord_source *)(const void *)&dst, &st),
                     ACCORD_ERR_WRONG_ROLE);
    assert_int_equal(accord_source_start((accord_source *)(void *)&dst, 0), ACCORD_ERR_WRONG_ROLE);
    assert_int_equal(accord_destination_approve((accord_destination *)(void *)&src, 0, 0),
                     ACCORD_ERR_WRONG_ROLE);
    assert_int_equal(accord_destination_deinit((accord_destination *)(void *)&src),
                     ACCORD_ERR_WRONG_ROLE);
    /* Both still fine. */
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_IDLE);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_AWAIT_HELLO);
}

static void test_misaligned(void **state) {
    static uint64_t raw[ACCORD_SOURCE_STORAGE_WORDS + 1];
    accord_source_config cfg;
    accord_state st;
    accord_event ev;
    accord_source *bad = (accord_source *)(void *)((char *)raw + 1);
    (void)state;
    OK(accord_source_config_default(&cfg));
    assert_int_equal(accord_source_init(bad, &cfg, NONCE), ACCORD_ERR_MISALIGNED);
    assert_int_equal(accord_source_state(bad, &st), ACCORD_ERR_MISALIGNED);
    make_pair();
    assert_int_equal(accord_source_poll_event(&src, (accord_event *)(void *)((char *)&ev + 1)),
                     ACCORD_ERR_MISALIGNED);
    assert_int_equal(src_error().code, ACCORD_ERR_MISALIGNED);
}

static void test_bad_enums(void **state) {
    accord_source_config cfg;
    accord_cap_offer bad_level = {ACCORD_CAP_MULTIFD, 7, 4};
    accord_error_info e;
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    (void)state;
    OK(accord_source_config_default(&cfg));
    cfg.caps = &bad_level;
    cfg.n_caps = 1;
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_ERR_BAD_ENUM);
    e = src_error();
    assert_int_equal(e.argument, 2);
    assert_int_equal(e.got, 7);
    assert_int_equal(e.expected, ACCORD_LEVEL_REQUIRED);
    /* A failed init leaves a handle that only reports why. */
    assert_int_equal(accord_source_start(&src, 0), ACCORD_E_INVALID_STATE);
    OK(accord_source_config_default(&cfg));
    cfg.ack_policy = 9;
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_ERR_BAD_ENUM);
    make_pair();
    OK(accord_source_start(&src, 0));
    assert_int_equal(accord_source_channel_preamble(&src, 4, 0, pre), ACCORD_ERR_BAD_ENUM);
    e = src_error();
    assert_int_equal(e.argument, 2);
    assert_int_equal(e.got, 4);
    assert_int_equal(accord_source_channel_lost(&src, 0, 200, 0, pre), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(accord_destination_channel_lost(&dst, 0, 200, 0), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(dst_error().argument, 3);
}

static void test_init_errors(void **state) {
    accord_source_config cfg;
    accord_destination_config dcfg;
    accord_cap_offer ack_only = {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_REQUIRED, 0};
    accord_cap_offer bad_param = {ACCORD_CAP_MULTIFD, ACCORD_LEVEL_OPTIONAL, 0};
    accord_error_info e;
    (void)state;
    OK(accord_source_config_default(&cfg));
    assert_int_equal(accord_source_init(&src, NULL, NONCE), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(src_error().argument, 2);
    assert_int_equal(accord_source_init(&src, &cfg, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(src_error().argument, 3);
    cfg.n_caps = 2; /* caps still NULL */
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_ERR_NULL_POINTER);
    /* switchover-ack required without return-path: refused before anything is sent. */
    cfg.caps = &ack_only;
    cfg.n_caps = 1;
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_E_INVALID_OFFER);
    e = src_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_DEPENDENCY);
    assert_int_equal(e.capability, ACCORD_CAP_SWITCHOVER_ACK);
    assert_int_equal(e.needs, ACCORD_CAP_RETURN_PATH);
    cfg.caps = &bad_param;
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_E_INVALID_OFFER);
    assert_int_equal(src_error().capability, ACCORD_CAP_MULTIFD);
    OK(accord_source_config_default(&cfg));
    cfg.version_min = 0;
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_E_BAD_VERSION_RANGE);
    assert_int_equal(src_error().detail, ACCORD_DETAIL_VERSIONS);
    OK(accord_destination_config_default(&dcfg));
    assert_int_equal(accord_destination_init(&dst, NULL, 0), ACCORD_ERR_NULL_POINTER);
    dcfg.version_max = 255;
    assert_int_equal(accord_destination_init(&dst, &dcfg, 0), ACCORD_E_BAD_VERSION_RANGE);
    assert_int_equal(accord_destination_register_device(&dst, "ram", 0, false, NULL), ACCORD_E_INVALID_STATE);
    /* Init again on a live handle replaces the session. */
    make_pair();
    make_pair();
}

static void test_add_device_errors(void **state) {
    char long_name[ACCORD_MAX_NAME_LEN + 8];
    const char bad_utf8[] = {'n', 'i', (char)0xff, 'c', 0};
    accord_error_info e;
    (void)state;
    make_pair();
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    assert_int_equal(accord_source_add_device(&src, long_name, 0, false, NULL), ACCORD_E_INVALID_ARGUMENT);
    e = src_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_VALUE);
    assert_int_equal(e.expected, ACCORD_MAX_NAME_LEN);
    assert_int_equal(accord_source_add_device(&src, bad_utf8, 0, false, NULL), ACCORD_ERR_INVALID_UTF8);
    e = src_error();
    assert_int_equal(e.argument, 2);
    assert_int_equal(e.got, 2);
    assert_int_equal(accord_source_add_device(&src, "", 0, false, NULL), ACCORD_E_INVALID_ARGUMENT);
    assert_int_equal(accord_source_add_device(&src, "ram", 0, false, NULL), ACCORD_E_DUPLICATE_DEVICE);
    e = src_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_DEVICE);
    assert_string_equal(e.device, "ram");
    assert_int_equal(accord_destination_register_device(&dst, "ram", 0, false, NULL), ACCORD_E_DUPLICATE_DEVICE);
    OK(accord_source_start(&src, 0));
    assert_int_equal(accord_source_add_device(&src, "late", 0, false, NULL), ACCORD_E_INVALID_STATE);
}

/* ------------------------------------------------------------------ */
/* The handshake                                                       */

static void test_full_handshake(void **state) {
    accord_event sev[64], dev[64];
    size_t ns, nd, n, i, assigned = 0;
    accord_enabled caps[ACCORD_MAX_CAPABILITIES];
    accord_device_info info;
    accord_state st;
    uint8_t version = 0;
    uint16_t pending = 0, id = 0;
    bool allowed = true;
    uint64_t deadline;
    (void)state;
    make_pair();
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_IDLE);
    OK(accord_source_poll_timeout(&src, &deadline));
    assert_true(deadline == ACCORD_NO_DEADLINE);
    OK(accord_source_start(&src, 100));
    OK(accord_source_poll_timeout(&src, &deadline));
    assert_int_equal(deadline, 100 + 5000);
    OK(accord_destination_poll_timeout(&dst, &deadline));
    assert_int_equal(deadline, 5000);
    open_channels(100);
    pump(101);
    ns = drain_source(sev, 64);
    nd = drain_destination(dev, 64);
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_PRECOPY);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_PRECOPY);
    assert_true(has_event(sev, ns, ACCORD_EVENT_NEGOTIATED));
    assert_true(has_event(sev, ns, ACCORD_EVENT_CHANNELS_READY));
    assert_true(has_event(dev, nd, ACCORD_EVENT_CHANNELS_READY));
    for (i = 0; i < nd; i++)
        if (dev[i].kind == ACCORD_EVENT_CHANNEL_ASSIGNED) assigned++;
    assert_int_equal(assigned, 5); /* 4 multifd + preempt */
    /* The agreement, the same on both sides. */
    OK(accord_source_agreement(&src, &version, caps, ACCORD_MAX_CAPABILITIES, &n));
    assert_int_equal(version, 1);
    assert_int_equal(n, 5);
    assert_int_equal(caps[1].id, ACCORD_CAP_MULTIFD);
    assert_int_equal(caps[1].param, 4);
    OK(accord_destination_agreement(&dst, &version, caps, ACCORD_MAX_CAPABILITIES, &n));
    assert_int_equal(n, 5);
    assert_int_equal(accord_source_agreement(&src, NULL, caps, 2, &n), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(n, 5);
    /* Devices. */
    OK(accord_source_device_count(&src, &n));
    assert_int_equal(n, 3);
    OK(accord_source_device(&src, 2, &info));
    assert_string_equal(info.name, DEVICES[2]);
    assert_int_equal(info.ack, 1);
    assert_int_equal(info.participates, 1);
    assert_int_equal(accord_source_device(&src, 3, &info), ACCORD_E_UNKNOWN_DEVICE);
    OK(accord_destination_device_count(&dst, &n));
    assert_int_equal(n, 3);
    OK(accord_destination_device(&dst, 0, &info));
    assert_string_equal(info.name, "ram");
    assert_int_equal(info.participates, 0);
    assert_int_equal(accord_destination_device(&dst, 9, &info), ACCORD_E_UNKNOWN_DEVICE);
    OK(accord_destination_find_device(&dst, DEVICES[2], 0, &id));
    assert_int_equal(id, 2);
    assert_int_equal(accord_destination_find_device(&dst, "nope", 0, &id), ACCORD_E_UNKNOWN_DEVICE);
    /* Approvals: the ack only after the last one. */
    OK(accord_destination_pending(&dst, &pending));
    assert_int_equal(pending, 2);
    OK(accord_source_can_switchover(&src, &allowed));
    assert_false(allowed);
    assert_int_equal(accord_source_start_switchover(&src, 102), ACCORD_E_SWITCHOVER_NOT_ALLOWED);
    OK(accord_destination_approve(&dst, 110, 1));
    pump(110);
    OK(accord_source_can_switchover(&src, &allowed));
    assert_false(allowed);
    OK(accord_destination_approve(&dst, 500, 2));
    OK(accord_destination_device(&dst, 2, &info));
    assert_int_equal(info.approved, 1);
    nd = drain_destination(dev, 64);
    assert_int_equal(dev[0].kind, ACCORD_EVENT_DEVICE_APPROVED);
    assert_int_equal(dev[0].device, 1);
    assert_int_equal(dev[0].pending, 1);
    assert_int_equal(dev[1].device, 2);
    assert_int_equal(dev[1].pending, 0);
    assert_int_equal(dev[2].kind, ACCORD_EVENT_SWITCHOVER_ACKED);
    assert_int_equal(dev[2].epoch, 1);
    pump(500);
    ns = drain_source(sev, 64);
    assert_int_equal(sev[0].kind, ACCORD_EVENT_SWITCHOVER_ACKED);
    OK(accord_source_can_switchover(&src, &allowed));
    assert_true(allowed);
    OK(accord_source_start_switchover(&src, 501));
    pump(501);
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_SWITCHED_OVER);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_SWITCHED_OVER);
    nd = drain_destination(dev, 64);
    assert_true(has_event(dev, nd, ACCORD_EVENT_SWITCHOVER_STARTED));
    /* After the decision, revoking is an error. */
    assert_int_equal(accord_destination_revoke(&dst, 502, 2), ACCORD_E_REVOKE_AFTER_SWITCHOVER_START);
    assert_string_equal(dst_error().device, DEVICES[2]);
    OK(accord_source_deinit(&src));
    OK(accord_destination_deinit(&dst));
}

static void test_transmit_buffer_too_small(void **state) {
    uint8_t tiny[8];
    size_t n = 99;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 0));
    assert_int_equal(accord_source_poll_transmit(&src, 0, tiny, sizeof tiny, &n), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(src_error().code, ACCORD_E_BUFFER_TOO_SMALL);
    /* Nothing lost: a big enough buffer gets it all. */
    OK(accord_source_poll_transmit(&src, 0, wire, sizeof wire, &n));
    assert_true(n > ACCORD_PREAMBLE_LEN);
    OK(accord_destination_handle_input(&dst, 0, wire, n, &n));
    assert_int_equal(accord_destination_poll_transmit(&dst, 0, tiny, sizeof tiny, &n), ACCORD_E_BUFFER_TOO_SMALL);
}

static void test_partial_input(void **state) {
    size_t n = 0, used = 0, i;
    accord_state st;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 0));
    OK(accord_source_poll_transmit(&src, 0, wire, sizeof wire, &n));
    /* Byte by byte: incomplete frames are left for the next call. */
    for (i = 0; i < n; i += used) {
        size_t avail = i + 1 < n ? 1 : n - i;
        size_t k;
        used = 0;
        for (k = 1; used == 0 && i + k <= n; k++) {
            OK(accord_destination_handle_input(&dst, 0, wire + i, k, &used));
            (void)avail;
        }
    }
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_PRECOPY);
}

static void test_garbage_input(void **state) {
    static const uint8_t junk[] = {'Q', 'E', 'V', 'M', 0, 0, 0, 3};
    size_t n = 7;
    accord_state st;
    accord_event ev;
    (void)state;
    make_pair();
    assert_int_equal(accord_destination_handle_input(&dst, 0, junk, sizeof junk, &n), ACCORD_E_BAD_MAGIC);
    assert_int_equal(n, 0);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_FAILED);
    assert_int_equal(dst_error().code, ACCORD_E_BAD_MAGIC);
    OK(accord_destination_poll_event(&dst, &ev));
    assert_int_equal(ev.kind, ACCORD_EVENT_FAILED);
    assert_int_equal(ev.code, ACCORD_E_BAD_MAGIC);
    /* Failed is terminal. */
    assert_int_equal(accord_destination_handle_input(&dst, 0, junk, 1, &n), ACCORD_E_INVALID_STATE);
    /* The source, before start, takes no input. */
    assert_int_equal(accord_source_handle_input(&src, 0, junk, 1, &n), ACCORD_E_INVALID_STATE);
}

static void test_channels_and_preambles(void **state) {
    accord_channel ch[16];
    size_t n = 0;
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    accord_preamble p;
    accord_error_info e;
    (void)state;
    make_pair();
    assert_int_equal(accord_source_channel_preamble(&src, ACCORD_ROLE_MULTIFD, 0, pre), ACCORD_E_INVALID_STATE);
    OK(accord_source_start(&src, 0));
    assert_int_equal(accord_source_channels(&src, ch, 2, &n), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(n, 5);
    OK(accord_source_channels(&src, NULL, 0, &n) == ACCORD_E_BUFFER_TOO_SMALL ? ACCORD_OK : 1);
    OK(accord_source_channels(&src, ch, 16, &n));
    assert_int_equal(ch[0].role, ACCORD_ROLE_MULTIFD);
    assert_int_equal(ch[3].index, 3);
    assert_int_equal(ch[4].role, ACCORD_ROLE_PREEMPT);
    OK(accord_source_channel_preamble(&src, ACCORD_ROLE_MULTIFD, 2, pre));
    assert_memory_equal(pre, "ACRD", 4);
    OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
    assert_int_equal(p.role, ACCORD_ROLE_MULTIFD);
    assert_int_equal(p.index, 2);
    assert_int_equal(p.total, 4);
    assert_memory_equal(p.nonce, NONCE, 16);
    assert_int_equal(accord_source_channel_preamble(&src, ACCORD_ROLE_MULTIFD, 4, pre),
                     ACCORD_E_CHANNEL_INDEX_OUT_OF_RANGE);
    e = src_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_CHANNEL);
    assert_int_equal(e.role, ACCORD_ROLE_MULTIFD);
    assert_int_equal(e.index, 4);
    assert_int_equal(accord_source_channel_preamble(&src, ACCORD_ROLE_MAIN, 0, pre), ACCORD_E_INVALID_STATE);
    assert_int_equal(accord_source_channel_preamble(&src, ACCORD_ROLE_MULTIFD, 0, NULL), ACCORD_ERR_NULL_POINTER);
}

static void test_preamble_codec(void **state) {
    uint8_t b[ACCORD_PREAMBLE_LEN], back[ACCORD_PREAMBLE_LEN];
    accord_preamble p, q;
    accord_error_info e;
    (void)state;
    memset(&p, 0, sizeof p);
    p.version_min = 1, p.version_max = 1, p.role = ACCORD_ROLE_MULTIFD, p.index = 2, p.total = 4;
    memcpy(p.nonce, NONCE, 16);
    OK(accord_preamble_encode(&p, b, NULL));
    /* The spec's example (docs/PROTOCOL.md §3). */
    assert_memory_equal(b, "\x41\x43\x52\x44\x01\x01\x01\x00\x00\x02\x00\x04", 12);
    assert_int_equal(accord_preamble_decode(b, 27, &q, NULL), ACCORD_NEED_MORE);
    assert_int_equal(accord_preamble_decode(b, 0, &q, NULL), ACCORD_NEED_MORE);
    assert_int_equal(accord_preamble_decode(NULL, 0, &q, NULL), ACCORD_NEED_MORE);
    OK(accord_preamble_decode(b, sizeof b, &q, &e));
    assert_memory_equal(&p, &q, sizeof p);
    OK(accord_preamble_encode(&q, back, NULL));
    assert_memory_equal(b, back, sizeof b);
    /* A wrong magic fails at its first byte. */
    assert_int_equal(accord_preamble_decode((const uint8_t *)"QE", 2, &q, &e), ACCORD_E_BAD_MAGIC);
    assert_int_equal(e.code, ACCORD_E_BAD_MAGIC);
    b[6] = 9;
    assert_int_equal(accord_preamble_decode(b, sizeof b, &q, &e), ACCORD_E_UNKNOWN_ROLE);
    assert_int_equal(e.detail, ACCORD_DETAIL_VALUE);
    assert_int_equal(e.got, 9);
    b[6] = 1, b[7] = 0x80;
    assert_int_equal(accord_preamble_decode(b, sizeof b, &q, NULL), ACCORD_E_RESERVED_FLAGS);
    b[7] = 0, b[9] = 4;
    assert_int_equal(accord_preamble_decode(b, sizeof b, &q, &e), ACCORD_E_BAD_CHANNEL_INDEX);
    assert_int_equal(e.detail, ACCORD_DETAIL_CHANNEL);
    assert_int_equal(accord_preamble_decode(b, sizeof b, NULL, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_preamble_decode(NULL, 5, &q, NULL), ACCORD_ERR_NULL_POINTER);
    /* Encode refuses what a receiver would refuse. */
    p.role = 7;
    assert_int_equal(accord_preamble_encode(&p, b, &e), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(e.argument, 1);
    p.role = ACCORD_ROLE_PREEMPT;
    assert_int_equal(accord_preamble_encode(&p, b, &e), ACCORD_E_BAD_CHANNEL_INDEX);
    assert_int_equal(accord_preamble_encode(NULL, b, NULL), ACCORD_ERR_NULL_POINTER);
    p.role = ACCORD_ROLE_MULTIFD;
    assert_int_equal(accord_preamble_encode(&p, NULL, NULL), ACCORD_ERR_NULL_POINTER);
}

static void test_accept_channel_refusals(void **state) {
    accord_preamble p;
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    accord_assignment a;
    accord_error_info e;
    accord_event evs[32];
    size_t n;
    (void)state;
    negotiate();
    drain_destination(evs, 32);
    OK(accord_source_channel_preamble(&src, ACCORD_ROLE_MULTIFD, 1, pre));
    OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
    /* Already attached. */
    assert_int_equal(accord_destination_accept_channel(&dst, 2, &p, &a), ACCORD_E_DUPLICATE_CHANNEL);
    e = dst_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_CHANNEL);
    assert_int_equal(e.index, 1);
    /* Another migration's nonce. */
    p.nonce[0] ^= 1;
    assert_int_equal(accord_destination_accept_channel(&dst, 2, &p, &a), ACCORD_E_WRONG_NONCE);
    p.nonce[0] ^= 1;
    /* Beyond the agreed count. */
    p.index = 3, p.total = 8;
    assert_int_equal(accord_destination_accept_channel(&dst, 2, &p, &a), ACCORD_E_CHANNEL_TOTAL_MISMATCH);
    p.index = 1, p.total = 4, p.role = ACCORD_ROLE_DEVICE_STATE;
    assert_int_equal(accord_destination_accept_channel(&dst, 2, &p, &a), ACCORD_E_ROLE_NOT_NEGOTIATED);
    p.role = 99;
    assert_int_equal(accord_destination_accept_channel(&dst, 2, &p, &a), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(dst_error().argument, 3);
    /* The session is undisturbed. */
    n = drain_destination(evs, 32);
    assert_int_equal(n, 0);
    {
        accord_state st;
        OK(accord_destination_state(&dst, &st));
        assert_int_equal(st, ACCORD_STATE_PRECOPY);
    }
}

static void test_held_channels(void **state) {
    accord_preamble p;
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    accord_assignment a;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 0));
    OK(accord_source_channel_preamble(&src, ACCORD_ROLE_PREEMPT, 0, pre));
    OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
    /* Before Hello: held, reported once Welcome fixes the set. */
    OK(accord_destination_accept_channel(&dst, 0, &p, &a));
    assert_int_equal(a.status, ACCORD_ASSIGN_HELD);
    assert_int_equal(a.channel.role, ACCORD_ROLE_PREEMPT);
    assert_int_equal(accord_destination_accept_channel(&dst, 0, &p, NULL), ACCORD_E_DUPLICATE_CHANNEL);
}

/* ------------------------------------------------------------------ */
/* The seed scenarios: fail fast, same verdict on both sides           */

static void test_capability_on_one_side_only(void **state) {
    static const accord_cap_offer no_ack = {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_NONE, 0};
    accord_error_info es, ed;
    accord_event ev[16];
    size_t n;
    accord_state st;
    (void)state;
    make_source(FULL_CAPS, N_FULL_CAPS, ACK_12);
    make_destination(&no_ack, 1, ACK_12);
    OK(accord_source_start(&src, 0));
    pump(1);
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_FAILED);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_FAILED);
    es = src_error();
    ed = dst_error();
    assert_int_equal(es.code, ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION);
    assert_int_equal(es.capability, ACCORD_CAP_SWITCHOVER_ACK);
    assert_memory_equal(&es, &ed, sizeof es);
    assert_string_equal(format(&es), "capability required by source, missing on destination (E202): "
                                     "capability switchover-ack");
    n = drain_source(ev, 16);
    assert_int_equal(ev[n - 1].kind, ACCORD_EVENT_FAILED);
    assert_int_equal(ev[n - 1].by_peer, 1);
    assert_int_equal(ev[n - 1].code, ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION);
}

static void test_device_the_destination_cannot_serve(void **state) {
    static const bool gpu_cannot[3] = {false, true, false};
    accord_error_info es, ed;
    (void)state;
    make_source(FULL_CAPS, N_FULL_CAPS, ACK_12);
    make_destination(NULL, 0, gpu_cannot);
    OK(accord_source_start(&src, 0));
    open_channels(0);
    pump(1);
    es = src_error();
    ed = dst_error();
    assert_int_equal(es.code, ACCORD_E_DEVICE_UNSUPPORTED);
    assert_int_equal(es.detail, ACCORD_DETAIL_DEVICE);
    assert_string_equal(es.device, DEVICES[2]);
    assert_memory_equal(&es, &ed, sizeof es);
}

static void test_device_x_and_y(void **state) {
    /* Seed 000's mixed versions: the source wants the ack for X only; the
     * destination supports X and Y. Only X counts; its approval acks. */
    static const bool x_only[3] = {false, true, false};
    static const bool both[3] = {false, true, true};
    uint16_t pending;
    bool allowed;
    (void)state;
    make_source(FULL_CAPS, N_FULL_CAPS, x_only);
    make_destination(NULL, 0, both);
    OK(accord_source_start(&src, 0));
    open_channels(0);
    pump(1);
    OK(accord_destination_pending(&dst, &pending));
    assert_int_equal(pending, 1);
    assert_int_equal(accord_destination_approve(&dst, 2, 2), ACCORD_E_DEVICE_NOT_PARTICIPATING);
    OK(accord_destination_approve(&dst, 2, 1));
    pump(2);
    OK(accord_source_can_switchover(&src, &allowed));
    assert_true(allowed);
}

/* ------------------------------------------------------------------ */
/* Switchover counting                                                 */

static void test_approve_revoke_errors(void **state) {
    accord_error_info e;
    accord_event evs[32];
    size_t n;
    (void)state;
    make_pair();
    assert_int_equal(accord_destination_approve(&dst, 0, 1), ACCORD_E_INVALID_STATE);
    assert_int_equal(accord_destination_revoke(&dst, 0, 1), ACCORD_E_INVALID_STATE);
    OK(accord_source_start(&src, 0));
    open_channels(0);
    pump(1);
    assert_int_equal(accord_destination_approve(&dst, 2, 7), ACCORD_E_UNKNOWN_DEVICE);
    e = dst_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_VALUE);
    assert_int_equal(e.got, 7);
    assert_int_equal(accord_destination_approve(&dst, 2, 0), ACCORD_E_DEVICE_NOT_PARTICIPATING);
    assert_string_equal(dst_error().device, "ram");
    assert_int_equal(accord_destination_revoke(&dst, 2, 1), ACCORD_E_NOT_APPROVED);
    OK(accord_destination_approve(&dst, 2, 1));
    assert_int_equal(accord_destination_approve(&dst, 2, 1), ACCORD_E_ALREADY_APPROVED);
    /* Ack, revoke, new ack: the source sees both, epochs 1 then 2. */
    OK(accord_destination_approve(&dst, 3, 2));
    pump(3);
    OK(accord_destination_revoke(&dst, 4, 2));
    pump(4);
    drain_source(evs, 32);
    drain_destination(evs, 32);
    OK(accord_destination_approve(&dst, 5, 2));
    pump(5);
    n = drain_destination(evs, 32);
    assert_true(has_event(evs, n, ACCORD_EVENT_SWITCHOVER_ACKED));
    assert_int_equal(evs[n - 1].epoch, 2);
}

static void test_revoke_reaches_source(void **state) {
    accord_event evs[32];
    size_t n, i;
    bool allowed;
    int seen = 0;
    (void)state;
    negotiate();
    OK(accord_destination_approve(&dst, 2, 1));
    OK(accord_destination_approve(&dst, 2, 2));
    pump(2);
    drain_source(evs, 32);
    OK(accord_destination_revoke(&dst, 3, 1));
    n = drain_destination(evs, 32);
    assert_int_equal(evs[n - 1].kind, ACCORD_EVENT_DEVICE_REVOKED);
    assert_int_equal(evs[n - 1].pending, 1);
    pump(3);
    n = drain_source(evs, 32);
    for (i = 0; i < n; i++)
        if (evs[i].kind == ACCORD_EVENT_SWITCHOVER_REVOKED && evs[i].epoch == 1 && evs[i].device == 1)
            seen = 1;
    assert_true(seen);
    OK(accord_source_can_switchover(&src, &allowed));
    assert_false(allowed);
}

/* ------------------------------------------------------------------ */
/* Deadlines                                                           */

static void test_welcome_timeout(void **state) {
    uint64_t deadline;
    accord_state st;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 1000));
    OK(accord_source_poll_timeout(&src, &deadline));
    assert_int_equal(deadline, 6000);
    OK(accord_source_handle_timeout(&src, 5999));
    assert_int_equal(accord_source_handle_timeout(&src, 6000), ACCORD_E_WELCOME_TIMEOUT);
    assert_int_equal(src_error().code, ACCORD_E_WELCOME_TIMEOUT);
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_FAILED);
    OK(accord_source_poll_timeout(&src, &deadline));
    assert_true(deadline == ACCORD_NO_DEADLINE);
    /* Again: nothing new. */
    OK(accord_source_handle_timeout(&src, 7000));
}

static void test_hello_timeout(void **state) {
    (void)state;
    make_pair();
    assert_int_equal(accord_destination_handle_timeout(&dst, 5000), ACCORD_E_HELLO_TIMEOUT);
    assert_int_equal(dst_error().code, ACCORD_E_HELLO_TIMEOUT);
}

static void test_channels_timeout(void **state) {
    accord_error_info e;
    uint64_t deadline;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 0));
    pump(10); /* no channel opened */
    OK(accord_destination_poll_timeout(&dst, &deadline));
    assert_int_equal(deadline, 10 + 10000);
    assert_int_equal(accord_destination_handle_timeout(&dst, deadline), ACCORD_E_CHANNELS_TIMEOUT);
    e = dst_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_MISSING_CHANNELS);
    assert_int_equal(e.role, ACCORD_ROLE_MULTIFD);
    assert_int_equal(e.index, 0);
    assert_int_equal(e.missing, 5);
    /* The Abort tells the source the same verdict. */
    pump(deadline);
    assert_memory_equal(&e, (accord_error_info[]){src_error()}, sizeof e);
}

static void test_ack_waived(void **state) {
    accord_source_config cfg;
    accord_event evs[32];
    size_t n;
    bool allowed;
    int i;
    (void)state;
    OK(accord_source_config_default(&cfg));
    cfg.caps = FULL_CAPS;
    cfg.n_caps = N_FULL_CAPS;
    cfg.ack_policy = ACCORD_ACK_POLICY_PROCEED;
    cfg.ack_timeout_ms = 50;
    OK(accord_source_init(&src, &cfg, NONCE));
    for (i = 0; i < 3; i++) OK(accord_source_add_device(&src, DEVICES[i], 0, ACK_12[i], NULL));
    make_destination(NULL, 0, ACK_12);
    OK(accord_source_start(&src, 0));
    open_channels(0);
    pump(1);
    OK(accord_source_handle_timeout(&src, 51));
    n = drain_source(evs, 32);
    assert_true(has_event(evs, n, ACCORD_EVENT_ACK_WAIVED));
    OK(accord_source_can_switchover(&src, &allowed));
    assert_true(allowed);
    OK(accord_source_start_switchover(&src, 52));
    pump(52);
    n = drain_destination(evs, 32);
    assert_int_equal(evs[n - 1].kind, ACCORD_EVENT_SWITCHOVER_STARTED);
    assert_int_equal(evs[n - 1].waived, 1);
}

/* ------------------------------------------------------------------ */
/* Abort, lost channels, the event queue                               */

static void test_abort_both_ways(void **state) {
    accord_event evs[32];
    size_t n;
    (void)state;
    negotiate();
    OK(accord_source_abort(&src, 5));
    pump(5);
    assert_int_equal(src_error().code, ACCORD_E_LOCAL_ABORT);
    assert_int_equal(dst_error().code, ACCORD_E_LOCAL_ABORT);
    n = drain_destination(evs, 32);
    assert_int_equal(evs[n - 1].kind, ACCORD_EVENT_FAILED);
    assert_int_equal(evs[n - 1].by_peer, 1);
    reset(NULL);
    negotiate();
    OK(accord_destination_abort(&dst, 5));
    pump(5);
    assert_int_equal(src_error().code, ACCORD_E_LOCAL_ABORT);
}

static void test_channel_lost_and_reattached(void **state) {
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    accord_preamble p;
    accord_assignment a;
    accord_event evs[32];
    size_t n;
    (void)state;
    negotiate();
    drain_destination(evs, 32);
    drain_source(evs, 32);
    assert_int_equal(accord_destination_channel_lost(&dst, 10, ACCORD_ROLE_MULTIFD, 9), ACCORD_E_INVALID_ARGUMENT);
    OK(accord_destination_channel_lost(&dst, 10, ACCORD_ROLE_MULTIFD, 3));
    OK(accord_source_channel_lost(&src, 10, ACCORD_ROLE_MULTIFD, 3, pre));
    OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
    assert_int_equal(p.flags & ACCORD_PREAMBLE_FLAG_REATTACH, ACCORD_PREAMBLE_FLAG_REATTACH);
    OK(accord_destination_accept_channel(&dst, 11, &p, &a));
    assert_int_equal(a.status, ACCORD_ASSIGN_REATTACHED);
    n = drain_destination(evs, 32);
    assert_int_equal(evs[0].kind, ACCORD_EVENT_CHANNEL_REATTACHED);
    assert_int_equal(evs[0].channel.index, 3);
    assert_true(has_event(evs, n, ACCORD_EVENT_CHANNELS_READY));
    pump(12);
    n = drain_source(evs, 32);
    assert_true(has_event(evs, n, ACCORD_EVENT_CHANNELS_READY));
}

/* Code 307: a re-attach that names a channel never attached is refused,
 * before Welcome and after it, and the session goes on. */
static void test_reattach_of_a_channel_never_attached_is_bad_reattach(void **state) {
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    accord_preamble p;
    accord_assignment a;
    accord_error_info e;
    accord_state st;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 0));
    OK(accord_source_channel_preamble(&src, ACCORD_ROLE_MULTIFD, 1, pre));
    OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
    p.flags |= ACCORD_PREAMBLE_FLAG_REATTACH;
    /* Before Welcome there is nothing to re-attach to. */
    assert_int_equal(accord_destination_accept_channel(&dst, 1, &p, &a), ACCORD_E_BAD_REATTACH);
    e = dst_error();
    assert_int_equal(e.detail, ACCORD_DETAIL_CHANNEL);
    assert_int_equal(e.role, ACCORD_ROLE_MULTIFD);
    assert_int_equal(e.index, 1);
    /* After Welcome, with multifd 1 never opened: still refused. */
    pump(1);
    assert_int_equal(accord_destination_accept_channel(&dst, 2, &p, &a), ACCORD_E_BAD_REATTACH);
    OK(accord_destination_state(&dst, &st));
    assert_int_not_equal(st, ACCORD_STATE_FAILED);
}

static void test_dropped_events(void **state) {
    /* More events than the queue holds, never polled: approve and revoke
     * again and again (2 events a round). */
    size_t queue = ACCORD_EVENT_QUEUE > ACCORD_EVENTS_PER_CALL ? ACCORD_EVENT_QUEUE : ACCORD_EVENTS_PER_CALL;
    size_t r;
    uint32_t dropped = 1;
    accord_event ev[1];
    (void)state;
    make_pair();
    OK(accord_destination_dropped_events(&dst, &dropped));
    assert_int_equal(dropped, 0);
    negotiate();
    drain_destination(ev, 1);
    for (r = 0; r < queue; r++) {
        OK(accord_destination_approve(&dst, 2, 1));
        OK(accord_destination_revoke(&dst, 2, 1));
    }
    /* The oldest are dropped and counted. */
    OK(accord_destination_dropped_events(&dst, &dropped));
    assert_int_equal(dropped, queue);
    OK(accord_source_dropped_events(&src, &dropped));
    assert_int_equal(dropped, 0);
}


/* ------------------------------------------------------------------ */
/* The contract: promises of accord.h each checked (c-tests/CONTRACT.md) */

static size_t transmit_source(uint64_t now) {
    size_t n = 0;
    OK(accord_source_poll_transmit(&src, now, wire, sizeof wire, &n));
    return n;
}

static size_t transmit_destination(uint64_t now) {
    size_t n = 0;
    OK(accord_destination_poll_transmit(&dst, now, wire, sizeof wire, &n));
    return n;
}

static void test_refused_hello_returns_ok_and_the_source_fails_at_once(void **state) {
    /* The source requires return-path and mapped-ram; the destination has no mapped-ram. */
    static const accord_cap_offer wants[] = {
        {ACCORD_CAP_RETURN_PATH, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_MAPPED_RAM, ACCORD_LEVEL_REQUIRED, 0},
    };
    static const accord_cap_offer no_mapped_ram = {ACCORD_CAP_MAPPED_RAM, ACCORD_LEVEL_NONE, 0};
    accord_source_config scfg;
    accord_destination_config dcfg;
    accord_error_info e;
    accord_event ev[8];
    accord_state st;
    size_t n, used = 0, k;
    uint64_t deadline;
    (void)state;
    OK(accord_source_config_default(&scfg));
    scfg.caps = wants;
    scfg.n_caps = 2;
    OK(accord_source_init(&src, &scfg, NONCE));
    OK(accord_destination_config_default(&dcfg));
    dcfg.caps = &no_mapped_ram;
    dcfg.n_caps = 1;
    OK(accord_destination_init(&dst, &dcfg, 0));
    OK(accord_source_start(&src, 0));
    n = transmit_source(0);
    /* Not an error of the call: every byte used, the state FAILED. */
    OK(accord_destination_handle_input(&dst, 1, wire, n, &used));
    assert_int_equal(used, n);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_FAILED);
    OK(accord_destination_verdict(&dst, &e));
    assert_int_equal(e.code, ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION);
    assert_int_equal(e.capability, ACCORD_CAP_MAPPED_RAM);
    /* poll_event and poll_transmit keep working in FAILED: the Reject goes out. */
    k = drain_destination(ev, 8);
    assert_int_equal(k, 1);
    assert_int_equal(ev[0].kind, ACCORD_EVENT_FAILED);
    assert_int_equal(ev[0].code, ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION);
    n = transmit_destination(1);
    assert_true(n > ACCORD_PREAMBLE_LEN);
    assert_int_equal(wire[ACCORD_PREAMBLE_LEN], 0x03); /* a Reject frame */
    assert_int_equal(transmit_destination(1), 0);
    /* The source fails at once (at 2 ms), not at its Welcome deadline (5000 ms). */
    OK(accord_source_poll_timeout(&src, &deadline));
    assert_int_equal(deadline, 5000);
    assert_int_equal(accord_source_handle_input(&src, 2, wire, n, &used),
                     ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION);
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_FAILED);
    OK(accord_source_verdict(&src, &e));
    assert_int_equal(e.code, ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION);
    assert_int_equal(e.capability, ACCORD_CAP_MAPPED_RAM);
    /* handle_input in FAILED: refused, nothing changes. */
    assert_int_equal(accord_destination_handle_input(&dst, 3, wire, 1, &used), ACCORD_E_INVALID_STATE);
}

/* A source offering `multifd` channels (required) with switchover-ack, no devices. */
static void make_channel_pair(uint16_t multifd) {
    accord_cap_offer caps[3] = {
        {ACCORD_CAP_RETURN_PATH, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_REQUIRED, 0},
        {ACCORD_CAP_MULTIFD, ACCORD_LEVEL_REQUIRED, 0},
    };
    accord_source_config scfg;
    accord_destination_config dcfg;
    caps[2].param = multifd;
    OK(accord_source_config_default(&scfg));
    scfg.caps = caps;
    scfg.n_caps = 3;
    OK(accord_source_init(&src, &scfg, NONCE));
    OK(accord_destination_config_default(&dcfg));
    OK(accord_destination_init(&dst, &dcfg, 0));
}

static void test_every_early_channel_held_then_the_hello_loses_no_event(void **state) {
    /* This build's maximum: ACCORD_MAX_EARLY_CHANNELS held, then one Hello. */
    uint16_t multifd = ACCORD_MAX_EARLY_CHANNELS < ACCORD_MAX_CHANNELS ? ACCORD_MAX_EARLY_CHANNELS
                                                                       : ACCORD_MAX_CHANNELS;
    static accord_event ev[ACCORD_EVENTS_PER_CALL + 1];
    uint8_t pre[ACCORD_PREAMBLE_LEN];
    accord_preamble p;
    accord_assignment a;
    size_t n, used = 0, k, i, settled = 0;
    uint32_t dropped = 1;
    (void)state;
    if (multifd > 255) multifd = 255;
    if (multifd == 0) multifd = 1;
    make_channel_pair(multifd);
    OK(accord_source_start(&src, 0));
    n = transmit_source(0);
    OK(accord_destination_handle_input(&dst, 0, wire, ACCORD_PREAMBLE_LEN, &used));
    assert_int_equal(used, ACCORD_PREAMBLE_LEN);
    OK(accord_source_channel_preamble(&src, ACCORD_ROLE_MULTIFD, 0, pre));
    OK(accord_preamble_decode(pre, sizeof pre, &p, NULL));
    /* Channels beyond the multifd offer are held as device-state channels,
     * never negotiated: refused at Welcome, an event all the same. */
    for (i = 0; i < ACCORD_MAX_EARLY_CHANNELS; i++) {
        if (i < multifd) {
            p.index = (uint16_t)i;
        } else {
            p.role = ACCORD_ROLE_DEVICE_STATE;
            p.index = (uint16_t)(i - multifd);
            p.total = (uint16_t)(ACCORD_MAX_EARLY_CHANNELS - multifd);
        }
        OK(accord_destination_accept_channel(&dst, 0, &p, &a));
        assert_int_equal(a.status, ACCORD_ASSIGN_HELD);
    }
    assert_int_equal(drain_destination(ev, 1), 0);
    OK(accord_destination_handle_input(&dst, 0, wire + ACCORD_PREAMBLE_LEN, n - ACCORD_PREAMBLE_LEN, &used));
    assert_int_equal(used, n - ACCORD_PREAMBLE_LEN);
    k = drain_destination(ev, ACCORD_EVENTS_PER_CALL + 1);
    assert_true(k <= ACCORD_EVENTS_PER_CALL);
    OK(accord_destination_dropped_events(&dst, &dropped));
    assert_int_equal(dropped, 0);
    assert_int_equal(ev[0].kind, ACCORD_EVENT_NEGOTIATED);
    for (i = 0; i < k; i++)
        if (ev[i].kind == ACCORD_EVENT_CHANNEL_ASSIGNED || ev[i].kind == ACCORD_EVENT_CHANNEL_REFUSED) settled++;
    assert_int_equal(settled, ACCORD_MAX_EARLY_CHANNELS);
    assert_true(has_event(ev, k, ACCORD_EVENT_CHANNELS_READY));
    assert_true(has_event(ev, k, ACCORD_EVENT_SWITCHOVER_ACKED));
}

static void test_a_flood_of_acks_and_revokes_is_read_in_several_calls_losing_nothing(void **state) {
    static uint8_t flood[64 * 1024];
    static const bool one[3] = {false, true, false};
    size_t len = 0, at = 0, n, used, k, seen = 0, calls = 0;
    uint32_t rounds = 3 * ACCORD_EVENTS_PER_CALL, r, dropped = 1;
    accord_event ev[ACCORD_EVENTS_PER_CALL + 1];
    (void)state;
    if (rounds > 64 * 1024 / 32) rounds = 64 * 1024 / 32;
    make_source(FULL_CAPS, N_FULL_CAPS, one);
    make_destination(NULL, 0, one);
    OK(accord_source_start(&src, 0));
    open_channels(0);
    pump(1);
    drain_source(ev, 1);
    drain_destination(ev, 1);
    /* The destination approves and revokes again and again; the source reads nothing meanwhile. */
    for (r = 0; r < rounds; r++) {
        OK(accord_destination_approve(&dst, 2, 1));
        n = transmit_destination(2);
        memcpy(flood + len, wire, n);
        len += n;
        OK(accord_destination_revoke(&dst, 2, 1));
        n = transmit_destination(2);
        memcpy(flood + len, wire, n);
        len += n;
    }
    /* A loop that calls until everything is consumed, taking events after each call. */
    while (at < len) {
        OK(accord_source_handle_input(&src, 3, flood + at, len - at, &used));
        assert_true(used > 0);
        at += used;
        calls++;
        k = drain_source(ev, ACCORD_EVENTS_PER_CALL + 1);
        assert_true(k <= ACCORD_EVENTS_PER_CALL);
        seen += k;
    }
    assert_true(calls > 1);
    assert_int_equal(seen, 2 * rounds);
    OK(accord_source_dropped_events(&src, &dropped));
    assert_int_equal(dropped, 0);
}

static void test_peer_device_name_is_kept_whole(void **state) {
    /* An Abort naming a 200-byte device (longer than ACCORD_MAX_NAME_LEN at the
     * defaults) arrives at the destination: the detail keeps all of it. */
    uint8_t frame[3 + 2 + 1 + 2 + 200 + 1];
    char name[201];
    accord_error_info e;
    size_t used = 0;
    char text[ACCORD_DEVICE_NAME_SIZE + 128];
    (void)state;
    negotiate();
    memset(name, 'n', 200);
    name[200] = 0;
    frame[0] = 0x08;                     /* Abort */
    frame[1] = 0x00;
    frame[2] = (uint8_t)(sizeof frame - 3); /* payload length */
    frame[3] = 0xce;                     /* code 206 */
    frame[4] = 0x01;
    frame[5] = 0x03;                     /* Detail::Device */
    frame[6] = 0xc8;                     /* name length 200 (varint) */
    frame[7] = 0x01;
    memcpy(frame + 8, name, 200);
    frame[208] = 0x07;                   /* instance 7 */
    assert_int_equal(accord_destination_handle_input(&dst, 5, frame, sizeof frame, &used),
                     ACCORD_E_DEVICE_UNSUPPORTED);
    OK(accord_destination_verdict(&dst, &e));
    assert_int_equal(e.detail, ACCORD_DETAIL_DEVICE);
    assert_int_equal(e.instance, 7);
    assert_string_equal(e.device, name);
    assert_string_equal(dst_error().device, name);
    OK(accord_error_format(&e, text, sizeof text, NULL));
    assert_non_null(strstr(text, name));
}

static void test_switched_over_is_terminal(void **state) {
    uint64_t deadline;
    accord_state st;
    accord_event ev[8];
    size_t n;
    (void)state;
    negotiate();
    OK(accord_destination_approve(&dst, 2, 1));
    OK(accord_destination_approve(&dst, 2, 2));
    pump(2);
    OK(accord_source_start_switchover(&src, 3));
    pump(3);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_SWITCHED_OVER);
    drain_destination(ev, 8);
    /* A lost channel arms no deadline; no timeout, abort or input moves the state. */
    OK(accord_destination_channel_lost(&dst, 4, ACCORD_ROLE_MULTIFD, 0));
    OK(accord_destination_poll_timeout(&dst, &deadline));
    assert_true(deadline == ACCORD_NO_DEADLINE);
    OK(accord_destination_handle_timeout(&dst, 4 + 10000));
    OK(accord_destination_handle_timeout(&dst, UINT64_MAX));
    OK(accord_destination_abort(&dst, 5));
    OK(accord_source_abort(&src, 5));
    assert_int_equal(accord_destination_handle_input(&dst, 6, wire, 3, &n), ACCORD_E_INVALID_STATE);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_SWITCHED_OVER);
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_SWITCHED_OVER);
    assert_int_equal(drain_destination(ev, 8), 0);
    assert_int_equal(transmit_destination(7), 0);
    assert_int_equal(transmit_source(7), 0);
}

static void test_verdict_outlives_later_refused_calls(void **state) {
    accord_source_config cfg;
    accord_cap_offer ack_only = {ACCORD_CAP_SWITCHOVER_ACK, ACCORD_LEVEL_REQUIRED, 0};
    accord_error_info e;
    (void)state;
    OK(accord_source_config_default(&cfg));
    cfg.caps = &ack_only;
    cfg.n_caps = 1;
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_E_INVALID_OFFER);
    assert_int_equal(accord_source_start(&src, 0), ACCORD_E_INVALID_STATE);
    /* last_error is the last refused call; the verdict is still init's reason. */
    assert_int_equal(src_error().code, ACCORD_E_INVALID_STATE);
    OK(accord_source_verdict(&src, &e));
    assert_int_equal(e.code, ACCORD_E_INVALID_OFFER);
    assert_int_equal(e.capability, ACCORD_CAP_SWITCHOVER_ACK);
    /* A migration's verdict too: a timeout, then a refused call. */
    make_pair();
    OK(accord_destination_verdict(&dst, &e));
    assert_int_equal(e.code, ACCORD_OK);
    assert_int_equal(accord_destination_handle_timeout(&dst, 5000), ACCORD_E_HELLO_TIMEOUT);
    assert_int_equal(accord_destination_approve(&dst, 5001, 1), ACCORD_E_INVALID_STATE);
    assert_int_equal(dst_error().code, ACCORD_E_INVALID_STATE);
    OK(accord_destination_verdict(&dst, &e));
    assert_int_equal(e.code, ACCORD_E_HELLO_TIMEOUT);
}

static void test_refused_init_leaves_a_live_session_intact(void **state) {
    accord_source_config cfg;
    accord_destination_config dcfg;
    accord_state st;
    size_t count = 0;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 0));
    OK(accord_source_config_default(&cfg));
    OK(accord_destination_config_default(&dcfg));
    assert_int_equal(accord_source_init(&src, NULL, NONCE), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_source_init(&src, &cfg, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(src_error().argument, 3);
    cfg.version_min = 0;
    assert_int_equal(accord_source_init(&src, &cfg, NONCE), ACCORD_E_BAD_VERSION_RANGE);
    assert_int_equal(accord_destination_init(&dst, NULL, 0), ACCORD_ERR_NULL_POINTER);
    /* Both sessions as they were: the handshake completes. */
    OK(accord_source_state(&src, &st));
    assert_int_equal(st, ACCORD_STATE_AWAIT_WELCOME);
    OK(accord_source_device_count(&src, &count));
    assert_int_equal(count, 3);
    OK(accord_destination_device_count(&dst, &count));
    assert_int_equal(count, 3);
    open_channels(0);
    pump(1);
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_PRECOPY);
}

static void test_deadlines_at_zero_and_at_the_end_of_time(void **state) {
    accord_destination_config dcfg;
    uint64_t deadline;
    (void)state;
    OK(accord_destination_config_default(&dcfg));
    /* 0: the deadline is the moment the wait starts, and fires at it. */
    dcfg.hello_timeout_ms = 0;
    OK(accord_destination_init(&dst, &dcfg, 100));
    OK(accord_destination_poll_timeout(&dst, &deadline));
    assert_int_equal(deadline, 100);
    OK(accord_destination_handle_timeout(&dst, 99));
    assert_int_equal(accord_destination_handle_timeout(&dst, 100), ACCORD_E_HELLO_TIMEOUT);
    /* UINT64_MAX: no deadline at all. */
    dcfg.hello_timeout_ms = UINT64_MAX;
    OK(accord_destination_init(&dst, &dcfg, 100));
    OK(accord_destination_poll_timeout(&dst, &deadline));
    assert_true(deadline == ACCORD_NO_DEADLINE);
    OK(accord_destination_handle_timeout(&dst, UINT64_MAX));
}

static void test_destination_handle_may_be_copied(void **state) {
    static accord_destination copy;
    accord_state st;
    size_t n, used = 0;
    (void)state;
    make_pair();
    memcpy(&copy, &dst, sizeof dst);
    OK(accord_source_start(&src, 0));
    n = transmit_source(0);
    OK(accord_destination_handle_input(&copy, 0, wire, n, &used));
    assert_int_equal(used, n);
    OK(accord_destination_state(&copy, &st));
    assert_int_equal(st, ACCORD_STATE_PRECOPY);
    /* The original is an independent session, still waiting. */
    OK(accord_destination_state(&dst, &st));
    assert_int_equal(st, ACCORD_STATE_AWAIT_HELLO);
}

static void test_preamble_and_first_frame_go_out_as_one_unit(void **state) {
    size_t n = 99, full;
    (void)state;
    make_pair();
    OK(accord_source_start(&src, 0));
    /* Room for the preamble (28) and a little more is not enough. */
    assert_int_equal(accord_source_poll_transmit(&src, 0, wire, ACCORD_PREAMBLE_LEN, &n), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_int_equal(accord_source_poll_transmit(&src, 0, wire, ACCORD_PREAMBLE_LEN + 2, &n), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    full = transmit_source(0);
    OK(accord_destination_handle_input(&dst, 0, wire, full, &n));
    assert_int_equal(accord_destination_poll_transmit(&dst, 0, wire, ACCORD_PREAMBLE_LEN + 2, &n),
                     ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(n, 0);
    assert_true(transmit_destination(0) > ACCORD_PREAMBLE_LEN + 2);
}

static void test_channels_size_query(void **state) {
    size_t n = 0;
    (void)state;
    make_pair();
    assert_int_equal(accord_source_channels(&src, NULL, 0, &n), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(n, 4 + 1); /* multifd 0..3 and preempt */
    make_source(NULL, 0, ACK_12);
    OK(accord_source_channels(&src, NULL, 0, &n));
    assert_int_equal(n, 0);
}

static void test_revoked_names_the_source_table_id(void **state) {
    /* The destination registers the devices in another order than the source lists them. */
    static const char *const order[3] = {"0000:00:03.0/vfio-gpu", "ram", "0000:00:02.0/vfio-nic"};
    accord_destination_config cfg;
    accord_event ev[32];
    size_t n, i;
    uint16_t nic = 99, gpu = 99;
    int revoked = 0;
    (void)state;
    make_source(FULL_CAPS, N_FULL_CAPS, ACK_12);
    OK(accord_destination_config_default(&cfg));
    OK(accord_destination_init(&dst, &cfg, 0));
    for (i = 0; i < 3; i++)
        OK(accord_destination_register_device(&dst, order[i], 0, i != 1, NULL));
    OK(accord_destination_find_device(&dst, DEVICES[1], 0, &nic));
    OK(accord_destination_find_device(&dst, DEVICES[2], 0, &gpu));
    assert_int_equal(nic, 2);
    assert_int_equal(gpu, 0);
    OK(accord_source_start(&src, 0));
    open_channels(0);
    pump(1);
    drain_destination(ev, 32);
    OK(accord_destination_approve(&dst, 2, nic));
    n = drain_destination(ev, 32);
    assert_int_equal(ev[n - 1].kind, ACCORD_EVENT_DEVICE_APPROVED);
    assert_int_equal(ev[n - 1].device, nic); /* destination registry id */
    OK(accord_destination_approve(&dst, 2, gpu));
    pump(2);
    drain_source(ev, 32);
    OK(accord_destination_revoke(&dst, 3, nic));
    pump(3);
    n = drain_source(ev, 32);
    for (i = 0; i < n; i++)
        if (ev[i].kind == ACCORD_EVENT_SWITCHOVER_REVOKED) {
            assert_int_equal(ev[i].device, 1); /* the source's table id of the nic */
            revoked = 1;
        }
    assert_true(revoked);
}

static void test_handle_input_reports_partial_frames_with_ok_and_stops_at_the_stream(void **state) {
    accord_error_info e;
    accord_event ev[8];
    size_t n, used = 99;
    static uint8_t start_and_stream[64];
    (void)state;
    make_pair();
    /* Nothing failed yet: last_error and the verdict say ACCORD_OK. */
    assert_int_equal(src_error().code, ACCORD_OK);
    OK(accord_source_verdict(&src, &e));
    assert_int_equal(e.code, ACCORD_OK);
    /* Before accord_source_start: refused, nothing changes. */
    assert_int_equal(accord_source_handle_input(&src, 0, wire, 1, &used), ACCORD_E_INVALID_STATE);
    OK(accord_source_start(&src, 0));
    n = transmit_source(0);
    OK(accord_destination_handle_input(&dst, 0, wire, n, &used));
    n = transmit_destination(0);
    /* An incomplete frame is ACCORD_OK with less consumed, never ACCORD_NEED_MORE. */
    assert_int_equal(accord_source_handle_input(&src, 0, wire, ACCORD_PREAMBLE_LEN + 2, &used), ACCORD_OK);
    assert_int_equal(used, ACCORD_PREAMBLE_LEN);
    OK(accord_source_handle_input(&src, 0, wire + used, n - used, &used));
    assert_int_equal(used, n - ACCORD_PREAMBLE_LEN);
    open_channels(1);
    pump(1);
    OK(accord_destination_approve(&dst, 2, 1));
    OK(accord_destination_approve(&dst, 2, 2));
    pump(2);
    drain_destination(ev, 8);
    OK(accord_source_start_switchover(&src, 3));
    /* SwitchoverStart, then the migration stream: the stream is left unread. */
    n = transmit_source(3);
    assert_true(n + 16 <= sizeof start_and_stream);
    memcpy(start_and_stream, wire, n);
    memset(start_and_stream + n, 0x5a, 16);
    OK(accord_destination_handle_input(&dst, 3, start_and_stream, n + 16, &used));
    assert_int_equal(used, n);
    n = drain_destination(ev, 8);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].kind, ACCORD_EVENT_SWITCHOVER_STARTED);
}

/* ------------------------------------------------------------------ */
/* QEMU's legacy formats                                               */

static accord_legacy_classifier lgc;

static void test_legacy_classifier(void **state) {
    accord_legacy_config cfg;
    accord_legacy_decision d;
    accord_legacy_status st;
    uint8_t hdr[ACCORD_LEGACY_MULTIFD_INIT_LEN];
    static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    size_t needed = 9;
    bool b = true;
    accord_error_info e;
    (void)state;
    memset(&lgc, 0, sizeof lgc);
    OK(accord_legacy_config_default(&cfg, ACCORD_LEGACY_QEMU_10_1_PLUS));
    assert_int_equal(cfg.peekable, 1);
    cfg.multifd_channels = 2;
    cfg.postcopy_ram = 1;
    cfg.postcopy_preempt = 1;
    cfg.check_uuid = 1;
    memcpy(cfg.uuid, uuid, 16);
    OK(accord_legacy_classifier_init(&lgc, &cfg));
    OK(accord_legacy_bytes_needed(&lgc, &needed));
    assert_int_equal(needed, 4);
    OK(accord_legacy_may_be_silent(&lgc, &b));
    assert_false(b);
    /* Any order: multifd 1, main, multifd 0, then preempt without a byte read. */
    OK(accord_legacy_multifd_encode(uuid, 1, hdr, NULL));
    OK(accord_legacy_classify(&lgc, hdr, 4, &d));
    assert_int_equal(d.kind, ACCORD_LEGACY_DECISION_NEED_MORE);
    assert_int_equal(d.needed, 64);
    OK(accord_legacy_classify(&lgc, hdr, sizeof hdr, &d));
    assert_int_equal(d.kind, ACCORD_LEGACY_DECISION_MULTIFD);
    assert_int_equal(d.multifd_id, 1);
    OK(accord_legacy_classify(&lgc, (const uint8_t *)"QEVM", 4, &d));
    assert_int_equal(d.kind, ACCORD_LEGACY_DECISION_MAIN);
    /* A duplicate id refuses that connection, records nothing. */
    assert_int_equal(accord_legacy_classify(&lgc, hdr, sizeof hdr, &d), ACCORD_E_LEGACY_UNEXPECTED_CHANNEL);
    OK(accord_legacy_classifier_last_error(&lgc, &e));
    assert_int_equal(e.code, ACCORD_E_LEGACY_UNEXPECTED_CHANNEL);
    assert_int_equal(e.detail, ACCORD_DETAIL_CHANNEL);
    OK(accord_legacy_multifd_encode(uuid, 0, hdr, NULL));
    OK(accord_legacy_classify(&lgc, hdr, sizeof hdr, &d));
    OK(accord_legacy_multifd_present(&lgc, 0, &b));
    assert_true(b);
    OK(accord_legacy_get_status(&lgc, &st));
    assert_int_equal(st.multifd_count, 2);
    assert_int_equal(st.ready_to_load, 1);
    assert_int_equal(st.complete, 0);
    OK(accord_legacy_bytes_needed(&lgc, &needed));
    assert_int_equal(needed, 0);
    OK(accord_legacy_classify(&lgc, NULL, 0, &d));
    assert_int_equal(d.kind, ACCORD_LEGACY_DECISION_PREEMPT);
    OK(accord_legacy_get_status(&lgc, &st));
    assert_int_equal(st.complete, 1);
    assert_int_equal(st.preempt_present, 1);
    assert_int_equal(accord_legacy_classify(&lgc, NULL, 0, &d), ACCORD_E_LEGACY_UNEXPECTED_CHANNEL);
    /* Postcopy recovery: main and preempt again. */
    OK(accord_legacy_begin_recovery(&lgc));
    OK(accord_legacy_get_status(&lgc, &st));
    assert_int_equal(st.recovering, 1);
    assert_int_equal(st.main_present, 0);
    OK(accord_legacy_classifier_deinit(&lgc));
    assert_int_equal(accord_legacy_get_status(&lgc, &st), ACCORD_ERR_NOT_INITIALIZED);
}

static void test_legacy_classifier_errors(void **state) {
    accord_legacy_config cfg;
    accord_legacy_decision d;
    accord_error_info e;
    uint8_t hdr[ACCORD_LEGACY_MULTIFD_INIT_LEN];
    static const uint8_t other[16] = {9};
    size_t n;
    bool b;
    (void)state;
    memset(&lgc, 0, sizeof lgc);
    assert_int_equal(accord_legacy_bytes_needed(&lgc, &n), ACCORD_ERR_NOT_INITIALIZED);
    assert_int_equal(accord_legacy_config_default(&cfg, 3), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(accord_legacy_config_default(NULL, 0), ACCORD_ERR_NULL_POINTER);
    OK(accord_legacy_config_default(&cfg, ACCORD_LEGACY_QEMU_8_0_TO_10_0));
    cfg.postcopy_preempt = 1;
    assert_int_equal(accord_legacy_classifier_init(&lgc, &cfg), ACCORD_E_CAPABILITY_DEPENDENCY);
    OK(accord_legacy_classifier_last_error(&lgc, &e));
    assert_int_equal(e.detail, ACCORD_DETAIL_DEPENDENCY);
    assert_int_equal(e.needs, ACCORD_CAP_POSTCOPY_RAM);
    cfg.postcopy_ram = 1;
    cfg.postcopy_preempt = 0;
    cfg.multifd_channels = 2;
    assert_int_equal(accord_legacy_classifier_init(&lgc, &cfg), ACCORD_E_INVALID_ARGUMENT);
    cfg.family = 7;
    assert_int_equal(accord_legacy_classifier_init(&lgc, &cfg), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(accord_legacy_classifier_init(&lgc, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_legacy_classifier_init(NULL, &cfg), ACCORD_ERR_NULL_POINTER);
    /* 8.0..10.0 with multifd: peek; unknown magic; uuid and id checks. */
    OK(accord_legacy_config_default(&cfg, ACCORD_LEGACY_QEMU_8_0_TO_10_0));
    cfg.multifd_channels = 4;
    cfg.check_uuid = 1;
    OK(accord_legacy_classifier_init(&lgc, &cfg));
    assert_int_equal(accord_legacy_classify(&lgc, (const uint8_t *)"\x16\x03\x01\x00", 4, &d),
                     ACCORD_E_LEGACY_UNKNOWN_MAGIC);
    OK(accord_legacy_multifd_encode(other, 1, hdr, NULL));
    assert_int_equal(accord_legacy_classify(&lgc, hdr, sizeof hdr, &d), ACCORD_E_LEGACY_MULTIFD_UUID);
    OK(accord_legacy_multifd_encode(cfg.uuid, 4, hdr, NULL));
    assert_int_equal(accord_legacy_classify(&lgc, hdr, sizeof hdr, &d), ACCORD_E_LEGACY_MULTIFD_ID);
    OK(accord_legacy_classifier_last_error(&lgc, &e));
    assert_int_equal(e.expected, 4);
    assert_int_equal(e.got, 4); /* QEMU's off-by-one check lets id == channels through */
    assert_int_equal(accord_legacy_classify(&lgc, hdr, sizeof hdr, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_legacy_classify(&lgc, NULL, 4, &d), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_legacy_begin_recovery(&lgc), ACCORD_E_INVALID_STATE);
    assert_int_equal(accord_legacy_multifd_present(&lgc, 0, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_legacy_may_be_silent(&lgc, NULL), ACCORD_ERR_NULL_POINTER);
    /* A source handle is not a classifier. */
    make_pair();
    assert_int_equal(accord_legacy_bytes_needed((const accord_legacy_classifier *)(const void *)&src, &n),
                     ACCORD_ERR_WRONG_ROLE);
    /* 10.1+ with x-preempt-pre-7-2: the early preempt channel may be silent. */
    OK(accord_legacy_config_default(&cfg, ACCORD_LEGACY_QEMU_10_1_PLUS));
    cfg.multifd_channels = 2;
    cfg.postcopy_ram = cfg.postcopy_preempt = cfg.preempt_pre_7_2 = 1;
    OK(accord_legacy_classifier_init(&lgc, &cfg));
    OK(accord_legacy_may_be_silent(&lgc, &b));
    assert_true(b);
    OK(accord_legacy_classify(&lgc, NULL, 0, &d));
    assert_int_equal(d.kind, ACCORD_LEGACY_DECISION_MAYBE_SILENT);
}

static void test_legacy_stream_and_commands(void **state) {
    uint8_t buf[64];
    size_t n = 0, used = 0;
    accord_legacy_command c, back;
    accord_error_info e;
    (void)state;
    OK(accord_legacy_stream_header_encode(buf, sizeof buf, &n, NULL));
    assert_int_equal(n, ACCORD_LEGACY_STREAM_HEADER_LEN);
    assert_memory_equal(buf, "\x51\x45\x56\x4d\x00\x00\x00\x03", 8);
    OK(accord_legacy_stream_header_decode(buf, 8, &used, NULL));
    assert_int_equal(used, 8);
    assert_int_equal(accord_legacy_stream_header_decode(buf, 7, &used, NULL), ACCORD_NEED_MORE);
    buf[7] = 4;
    assert_int_equal(accord_legacy_stream_header_decode(buf, 8, &used, &e), ACCORD_E_LEGACY_STREAM_VERSION);
    assert_int_equal(e.expected, 3);
    assert_int_equal(e.got, 4);
    assert_int_equal(accord_legacy_stream_header_encode(buf, 4, &n, &e), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(accord_legacy_stream_header_encode(buf, 8, NULL, NULL), ACCORD_ERR_NULL_POINTER);
    /* PING */
    memset(&c, 0, sizeof c);
    c.kind = ACCORD_LEGACY_CMD_PING;
    c.value = 0x12345678;
    OK(accord_legacy_command_encode(&c, buf, sizeof buf, &n, NULL));
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "\x08\x00\x02\x00\x04\x12\x34\x56\x78", 9);
    assert_int_equal(accord_legacy_command_decode(buf, 8, &back, &used, NULL), ACCORD_NEED_MORE);
    OK(accord_legacy_command_decode(buf, n, &back, &used, NULL));
    assert_int_equal(used, 9);
    assert_int_equal(back.kind, ACCORD_LEGACY_CMD_PING);
    assert_int_equal(back.value, 0x12345678);
    /* SWITCHOVER_START (QEMU 10.0+) */
    c.kind = ACCORD_LEGACY_CMD_SWITCHOVER_START;
    OK(accord_legacy_command_encode(&c, buf, sizeof buf, &n, NULL));
    assert_memory_equal(buf, "\x08\x00\x0b\x00\x00", 5);
    /* RECV_BITMAP: the idstr points into the input when decoded. */
    c.kind = ACCORD_LEGACY_CMD_RECV_BITMAP;
    c.data = (const uint8_t *)"pc.ram";
    c.data_len = 6;
    OK(accord_legacy_command_encode(&c, buf, sizeof buf, &n, NULL));
    OK(accord_legacy_command_decode(buf, n, &back, &used, NULL));
    assert_int_equal(back.data_len, 6);
    assert_ptr_equal(back.data, buf + 6);
    assert_memory_equal(back.data, "pc.ram", 6);
    /* POSTCOPY_ADVISE with page sizes */
    memset(&c, 0, sizeof c);
    c.kind = ACCORD_LEGACY_CMD_POSTCOPY_ADVISE;
    c.has_page_sizes = 1;
    c.page_size_summary = 4096;
    c.target_page_size = 4096;
    OK(accord_legacy_command_encode(&c, buf, sizeof buf, &n, NULL));
    assert_int_equal(n, 5 + 16);
    OK(accord_legacy_command_decode(buf, n, &back, &used, NULL));
    assert_int_equal(back.has_page_sizes, 1);
    assert_true(back.target_page_size == 4096);
    /* Refusals, in QEMU's order. */
    assert_int_equal(accord_legacy_command_decode((const uint8_t *)"\x09", 1, &back, &used, &e),
                     ACCORD_E_LEGACY_NOT_A_COMMAND);
    assert_int_equal(e.detail, ACCORD_DETAIL_FRAME);
    assert_int_equal(e.frame, 9);
    assert_int_equal(accord_legacy_command_decode((const uint8_t *)"\x08\x00\x0c\x00\x00", 5, &back, &used, &e),
                     ACCORD_E_LEGACY_UNKNOWN_TYPE);
    assert_int_equal(accord_legacy_command_decode((const uint8_t *)"\x08\x00\x02\x00\x03", 5, &back, &used, &e),
                     ACCORD_E_LEGACY_BAD_LENGTH);
    /* PACKAGED takes any be32 length, as every QEMU since 2.10. */
    c.kind = ACCORD_LEGACY_CMD_PACKAGED;
    c.value = 0xffffffffu;
    OK(accord_legacy_command_encode(&c, buf, sizeof buf, &n, &e));
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "\x08\x00\x07\x00\x04\xff\xff\xff\xff", 9);
    OK(accord_legacy_command_decode(buf, n, &back, &used, NULL));
    assert_int_equal(back.kind, ACCORD_LEGACY_CMD_PACKAGED);
    assert_true(back.value == 0xffffffffu);
    c.kind = 99;
    assert_int_equal(accord_legacy_command_encode(&c, buf, sizeof buf, &n, &e), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(e.got, 99);
    c.kind = ACCORD_LEGACY_CMD_PING;
    assert_int_equal(accord_legacy_command_encode(&c, buf, 4, &n, NULL), ACCORD_E_BUFFER_TOO_SMALL);
    assert_int_equal(accord_legacy_command_decode(buf, 4, NULL, &used, NULL), ACCORD_ERR_NULL_POINTER);
}

static void test_legacy_return_path_and_multifd(void **state) {
    uint8_t buf[600], hdr[ACCORD_LEGACY_MULTIFD_INIT_LEN], uuid_out[16];
    static const uint8_t uuid[16] = {0xaa, 0xbb};
    accord_legacy_rp_message m, back;
    accord_error_info e;
    size_t n = 0, used = 0;
    uint8_t id = 0;
    (void)state;
    memset(&m, 0, sizeof m);
    m.kind = ACCORD_LEGACY_RP_SWITCHOVER_ACK;
    OK(accord_legacy_rp_encode(&m, buf, sizeof buf, &n, NULL));
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "\x00\x07\x00\x00", 4);
    m.kind = ACCORD_LEGACY_RP_PONG;
    m.value = 7;
    OK(accord_legacy_rp_encode(&m, buf, sizeof buf, &n, NULL));
    OK(accord_legacy_rp_decode(buf, n, &back, &used, NULL));
    assert_int_equal(back.kind, ACCORD_LEGACY_RP_PONG);
    assert_int_equal(back.value, 7);
    m.kind = ACCORD_LEGACY_RP_REQ_PAGES_ID;
    m.start = 0x1000;
    m.value = 0x2000;
    m.idstr = (const uint8_t *)"pc.ram";
    m.idstr_len = 6;
    OK(accord_legacy_rp_encode(&m, buf, sizeof buf, &n, NULL));
    assert_int_equal(n, 4 + 13 + 6);
    assert_int_equal(accord_legacy_rp_decode(buf, n - 1, &back, &used, NULL), ACCORD_NEED_MORE);
    OK(accord_legacy_rp_decode(buf, n, &back, &used, NULL));
    assert_true(back.start == 0x1000);
    assert_int_equal(back.idstr_len, 6);
    assert_memory_equal(back.idstr, "pc.ram", 6);
    assert_int_equal(accord_legacy_rp_decode((const uint8_t *)"\x00\x08\x00\x00", 4, &back, &used, &e),
                     ACCORD_E_LEGACY_UNKNOWN_TYPE);
    assert_int_equal(e.got, 8);
    assert_int_equal(accord_legacy_rp_decode((const uint8_t *)"\x00\x07\x00\x01", 4, &back, &used, &e),
                     ACCORD_E_LEGACY_BAD_LENGTH);
    m.kind = 0;
    assert_int_equal(accord_legacy_rp_encode(&m, buf, sizeof buf, &n, NULL), ACCORD_ERR_BAD_ENUM);
    assert_int_equal(accord_legacy_rp_encode(NULL, buf, sizeof buf, &n, NULL), ACCORD_ERR_NULL_POINTER);
    /* MultiFDInit_t */
    OK(accord_legacy_multifd_encode(uuid, 3, hdr, NULL));
    assert_memory_equal(hdr, "\x11\x22\x33\x44\x00\x00\x00\x01\xaa\xbb", 10);
    assert_int_equal(hdr[24], 3);
    OK(accord_legacy_multifd_parse(hdr, sizeof hdr, uuid, 4, &id, uuid_out, NULL));
    assert_int_equal(id, 3);
    assert_memory_equal(uuid_out, uuid, 16);
    OK(accord_legacy_multifd_parse(hdr, sizeof hdr, NULL, 4, &id, NULL, NULL));
    assert_int_equal(accord_legacy_multifd_parse(hdr, 63, NULL, 4, &id, NULL, NULL), ACCORD_NEED_MORE);
    assert_int_equal(accord_legacy_multifd_parse(hdr, sizeof hdr, NULL, 3, &id, NULL, &e), ACCORD_E_LEGACY_MULTIFD_ID);
    assert_int_equal(e.detail, ACCORD_DETAIL_VALUE);
    hdr[7] = 2;
    assert_int_equal(accord_legacy_multifd_parse(hdr, sizeof hdr, NULL, 4, &id, NULL, &e),
                     ACCORD_E_LEGACY_MULTIFD_VERSION);
    assert_int_equal(accord_legacy_multifd_parse(hdr, sizeof hdr, NULL, 4, NULL, NULL, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_legacy_multifd_encode(NULL, 0, hdr, NULL), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(accord_legacy_multifd_encode(uuid, 0, NULL, &e), ACCORD_ERR_NULL_POINTER);
    assert_int_equal(e.argument, 3);
}

/* ------------------------------------------------------------------ */
/* The sanitizer build proves it is one                                */

#if defined(ACCORD_EXPECT_SANITIZERS)
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ACCORD_HAS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ACCORD_HAS_ASAN 1
#endif
#if !defined(ACCORD_HAS_ASAN)
#error "ACCORD_EXPECT_SANITIZERS set but the compiler is not instrumenting for AddressSanitizer"
#endif
extern void __asan_init(void) __attribute__((weak));
extern void __ubsan_handle_add_overflow(void) __attribute__((weak));
#endif

#if defined(ACCORD_EXPECT_SANITIZERS)
/* Only in the sanitized build (c-tests/Makefile, target asan). */
static void test_sanitizers_linked(void **state) {
    (void)state;
    /* Run time: the ASan and UBSan runtimes are really in this binary. */
    assert_non_null((void *)(uintptr_t)&__asan_init);
    assert_non_null((void *)(uintptr_t)&__ubsan_handle_add_overflow);
    print_message("sanitizers: ASan and UBSan runtimes linked\n");
}
#define SANITIZER_TESTS cmocka_unit_test(test_sanitizers_linked),
#else
#define SANITIZER_TESTS
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        SANITIZER_TESTS
        cmocka_unit_test_setup(test_version, reset),
        cmocka_unit_test_setup(test_strerror, reset),
        cmocka_unit_test_setup(test_names, reset),
        cmocka_unit_test_setup(test_error_format, reset),
        cmocka_unit_test_setup(test_config_defaults, reset),
        cmocka_unit_test_setup(test_use_before_init, reset),
        cmocka_unit_test_setup(test_null_handles, reset),
        cmocka_unit_test_setup(test_null_arguments_recorded, reset),
        cmocka_unit_test_setup(test_wrong_role, reset),
        cmocka_unit_test_setup(test_misaligned, reset),
        cmocka_unit_test_setup(test_bad_enums, reset),
        cmocka_unit_test_setup(test_init_errors, reset),
        cmocka_unit_test_setup(test_add_device_errors, reset),
        cmocka_unit_test_setup(test_full_handshake, reset),
        cmocka_unit_test_setup(test_transmit_buffer_too_small, reset),
        cmocka_unit_test_setup(test_partial_input, reset),
        cmocka_unit_test_setup(test_garbage_input, reset),
        cmocka_unit_test_setup(test_channels_and_preambles, reset),
        cmocka_unit_test_setup(test_preamble_codec, reset),
        cmocka_unit_test_setup(test_accept_channel_refusals, reset),
        cmocka_unit_test_setup(test_held_channels, reset),
        cmocka_unit_test_setup(test_capability_on_one_side_only, reset),
        cmocka_unit_test_setup(test_device_the_destination_cannot_serve, reset),
        cmocka_unit_test_setup(test_device_x_and_y, reset),
        cmocka_unit_test_setup(test_approve_revoke_errors, reset),
        cmocka_unit_test_setup(test_revoke_reaches_source, reset),
        cmocka_unit_test_setup(test_welcome_timeout, reset),
        cmocka_unit_test_setup(test_hello_timeout, reset),
        cmocka_unit_test_setup(test_channels_timeout, reset),
        cmocka_unit_test_setup(test_ack_waived, reset),
        cmocka_unit_test_setup(test_abort_both_ways, reset),
        cmocka_unit_test_setup(test_channel_lost_and_reattached, reset),
        cmocka_unit_test_setup(test_reattach_of_a_channel_never_attached_is_bad_reattach, reset),
        cmocka_unit_test_setup(test_dropped_events, reset),
        cmocka_unit_test_setup(test_refused_hello_returns_ok_and_the_source_fails_at_once, reset),
        cmocka_unit_test_setup(test_every_early_channel_held_then_the_hello_loses_no_event, reset),
        cmocka_unit_test_setup(test_a_flood_of_acks_and_revokes_is_read_in_several_calls_losing_nothing, reset),
        cmocka_unit_test_setup(test_peer_device_name_is_kept_whole, reset),
        cmocka_unit_test_setup(test_switched_over_is_terminal, reset),
        cmocka_unit_test_setup(test_verdict_outlives_later_refused_calls, reset),
        cmocka_unit_test_setup(test_refused_init_leaves_a_live_session_intact, reset),
        cmocka_unit_test_setup(test_deadlines_at_zero_and_at_the_end_of_time, reset),
        cmocka_unit_test_setup(test_destination_handle_may_be_copied, reset),
        cmocka_unit_test_setup(test_preamble_and_first_frame_go_out_as_one_unit, reset),
        cmocka_unit_test_setup(test_channels_size_query, reset),
        cmocka_unit_test_setup(test_revoked_names_the_source_table_id, reset),
        cmocka_unit_test_setup(test_handle_input_reports_partial_frames_with_ok_and_stops_at_the_stream, reset),
        cmocka_unit_test_setup(test_legacy_classifier, reset),
        cmocka_unit_test_setup(test_legacy_classifier_errors, reset),
        cmocka_unit_test_setup(test_legacy_stream_and_commands, reset),
        cmocka_unit_test_setup(test_legacy_return_path_and_multifd, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
