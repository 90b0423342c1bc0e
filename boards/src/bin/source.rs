//! The Source board: an nRF51822 (Cortex-M0) under `qemu-system-arm -M
//! microbit`, its UART0 joined to the Destination board's UART. Links the
//! Source role only.
#![no_std]
#![no_main]

use accord_boards::nrf51::{Timer, Uart};
use accord_boards::port::Port;
use accord_boards::role::{run_source, Scenario};
use accord_boards::{boot_id, cmdline};
use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    let timer = Timer::new();
    let uart = Uart::new();
    let mut args = [0u8; 96];
    let scenario = Scenario::from_cmdline(cmdline(&mut args));
    let boot = boot_id(timer.micros32());
    // The session nonce: unique per boot as the boot id is.
    let mut nonce = *b"accord-boards-00";
    for (d, s) in nonce.iter_mut().skip(12).zip(boot.to_be_bytes()) {
        *d = s;
    }
    run_source(Port::new(uart, boot), timer, scenario, nonce)
}
