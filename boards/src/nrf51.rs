//! The nRF51822 of QEMU's `-M microbit`: UART0 at 0x4000_2000 and TIMER0 at
//! 0x4000_8000 (nRF51 Reference Manual; QEMU's hw/char/nrf51_uart.c and
//! hw/timer/nrf51_timer.c model the registers used here). The nRF51 has no
//! SysTick, so time comes from TIMER0 at 1 MHz.

use core::cell::Cell;

use cortex_m::interrupt::{self, Mutex};

use crate::mmio::{read, write};
use crate::port::{Clock, Serial};

const UART0: usize = 0x4000_2000;
const STARTRX: usize = UART0;
const STARTTX: usize = UART0 + 0x008;
const RXDRDY: usize = UART0 + 0x108;
const TXDRDY: usize = UART0 + 0x11C;
const ENABLE: usize = UART0 + 0x500;
const PSELTXD: usize = UART0 + 0x50C;
const PSELRXD: usize = UART0 + 0x514;
const RXD: usize = UART0 + 0x518;
const TXD: usize = UART0 + 0x51C;
const BAUDRATE: usize = UART0 + 0x524;

/// UART0, polled: no interrupts, never blocks.
pub struct Uart {
    /// A byte was written to TXD and TXDRDY has not been seen since.
    busy: bool,
}

impl Uart {
    /// Enable UART0 at 115200 baud on the micro:bit's edge-connector pins
    /// (TX P0.24, RX P0.25) and start both directions.
    pub fn new() -> Self {
        write(PSELTXD, 24);
        write(PSELRXD, 25);
        write(BAUDRATE, 0x01D7_E000);
        write(ENABLE, 4);
        write(TXDRDY, 0);
        write(RXDRDY, 0);
        write(STARTTX, 1);
        write(STARTRX, 1);
        Uart { busy: false }
    }
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl Serial for Uart {
    fn read(&mut self) -> Option<u8> {
        if read(RXDRDY) == 0 {
            return None;
        }
        // Clear the event before reading: the read sets it again if the
        // receive FIFO holds more.
        write(RXDRDY, 0);
        Some(read(RXD) as u8)
    }

    fn write(&mut self, byte: u8) -> bool {
        if self.busy {
            if read(TXDRDY) == 0 {
                return false;
            }
            write(TXDRDY, 0);
            self.busy = false;
        }
        write(TXD, u32::from(byte));
        self.busy = true;
        true
    }
}

const TIMER0: usize = 0x4000_8000;
const T_START: usize = TIMER0;
const T_CLEAR: usize = TIMER0 + 0x00C;
const T_CAPTURE0: usize = TIMER0 + 0x040;
const T_MODE: usize = TIMER0 + 0x504;
const T_BITMODE: usize = TIMER0 + 0x508;
const T_PRESCALER: usize = TIMER0 + 0x510;
const T_CC0: usize = TIMER0 + 0x540;

/// TIMER0 as a 32-bit 1 MHz counter (16 MHz / 2^4), widened to 64 bits.
pub struct Timer {
    high: Mutex<Cell<(u32, u32)>>,
}

impl Timer {
    /// Start TIMER0 from 0.
    pub fn new() -> Self {
        write(T_MODE, 0);
        write(T_BITMODE, 3);
        write(T_PRESCALER, 4);
        write(T_CLEAR, 1);
        write(T_START, 1);
        Timer {
            high: Mutex::new(Cell::new((0, 0))),
        }
    }

    /// The counter now, in µs (low 32 bits).
    pub fn micros32(&self) -> u32 {
        write(T_CAPTURE0, 1);
        read(T_CC0)
    }
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for Timer {
    /// Milliseconds since start. Must be called at least once per 71
    /// minutes (the main loop calls it all the time).
    fn now_ms(&mut self) -> u64 {
        let now = self.micros32();
        let (last, wraps) = interrupt::free(|cs| {
            let c = self.high.borrow(cs);
            let (last, mut wraps) = c.get();
            if now < last {
                wraps = wraps.wrapping_add(1);
            }
            c.set((now, wraps));
            (now, wraps)
        });
        ((u64::from(wraps) << 32) | u64::from(last)) / 1000
    }
}
