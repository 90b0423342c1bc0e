//! QEMU's legacy formats (main-stream header, QEMU_VM_COMMAND, return path,
//! MultiFDInit_t) and the channel classifier, for peers without the accord
//! handshake. Wrappers of accord-core's `legacy` module go here once it lands.
