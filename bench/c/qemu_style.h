/* QEMU-style C baseline for accord's benchmarks; see qemu_style.c.
 * The Rust mirror of these types is bench/src/cbase.rs (#[repr(C)]). */
#ifndef ACCORD_BENCH_QEMU_STYLE_H
#define ACCORD_BENCH_QEMU_STYLE_H

#include <stddef.h>
#include <stdint.h>

#define QS_MAX_CAPS 16
#define QS_MAX_DEVICES 32
#define QS_MAX_NAME 64
#define QS_MAX_PAYLOAD 16384

#define QS_VM_COMMAND 0x08
#define QS_CMD_HELLO 0x0100
#define QS_CMD_WELCOME 0x0101

#define QS_QEMU_VM_FILE_MAGIC 0x5145564du
#define QS_MULTIFD_MAGIC 0x11223344u
#define QS_LEGACY_MAIN 0
#define QS_LEGACY_MULTIFD 1

typedef struct {
    uint16_t id;
    uint8_t required;
    uint16_t param;
} QsCap;

typedef struct {
    uint16_t id;
    uint16_t param;
} QsEnabled;

typedef struct {
    char name[QS_MAX_NAME + 1];
    uint8_t name_len;
    uint32_t instance;
    uint8_t wants_ack;
} QsDevice;

typedef struct {
    uint8_t ncaps;
    QsCap caps[QS_MAX_CAPS];
    uint32_t ndevices;
    QsDevice devices[QS_MAX_DEVICES];
} QsHello;

typedef struct {
    uint8_t version;
    uint8_t ncaps;
    QsCap caps[QS_MAX_CAPS];
    uint8_t nenabled;
    QsEnabled enabled[QS_MAX_CAPS];
    uint32_t nverdicts;
    uint8_t verdicts[QS_MAX_DEVICES];
} QsWelcome;

typedef struct {
    uint8_t min_version;
    uint8_t max_version;
    uint8_t role;
    uint8_t flags;
    uint16_t index;
    uint16_t total;
    uint8_t nonce[16];
} QsPreamble;

typedef struct {
    uint8_t main;
    uint16_t count;
    uint32_t seen[8];
} QsLegacyState;

ptrdiff_t qs_hello_encode(const QsHello *h, uint8_t *out, size_t cap);
ptrdiff_t qs_hello_decode(const uint8_t *buf, size_t len, QsHello *h);
ptrdiff_t qs_welcome_encode(const QsWelcome *w, uint8_t *out, size_t cap);
ptrdiff_t qs_welcome_decode(const uint8_t *buf, size_t len, QsWelcome *w);
int qs_preamble_decode(const uint8_t *b, size_t len, QsPreamble *p);
int qs_legacy_classify(QsLegacyState *st, const uint8_t *b, size_t len,
                       const uint8_t uuid[16], uint8_t channels, uint8_t *id);

#endif
