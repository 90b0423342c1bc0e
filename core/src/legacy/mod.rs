//! QEMU's legacy formats and channel identification, for peers without the
//! accord handshake. Filled in by the channel issue.
