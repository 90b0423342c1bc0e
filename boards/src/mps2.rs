//! QEMU's `-M mps2-an386` (Arm MPS2 with the AN386 Cortex-M4 image): CMSDK
//! APB UART0 at 0x4000_4000 and TIMER0 at 0x4000_0000, clocked at 25 MHz.

use crate::mmio::{read, write};
use crate::port::{Clock, Serial};

const UART0: usize = 0x4000_4000;
const DATA: usize = UART0;
const STATE: usize = UART0 + 0x004;
const CTRL: usize = UART0 + 0x008;
const BAUDDIV: usize = UART0 + 0x010;
const STATE_TXFULL: u32 = 1 << 0;
const STATE_RXFULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
/// The system clock (QEMU's SYSCLK_FRQ for MPS2).
pub const SYSCLK_HZ: u32 = 25_000_000;

/// CMSDK UART0, polled: no interrupts, never blocks.
pub struct Uart;

impl Uart {
    /// 115200 baud (the divider must be at least 16), both directions on.
    pub fn new() -> Self {
        write(BAUDDIV, SYSCLK_HZ / 115_200);
        write(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        Uart
    }
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl Serial for Uart {
    fn read(&mut self) -> Option<u8> {
        if read(STATE) & STATE_RXFULL == 0 {
            return None;
        }
        Some(read(DATA) as u8)
    }

    fn write(&mut self, byte: u8) -> bool {
        if read(STATE) & STATE_TXFULL != 0 {
            return false;
        }
        write(DATA, u32::from(byte));
        true
    }
}

const TIMER0: usize = 0x4000_0000;
const T_CTRL: usize = TIMER0;
const T_VALUE: usize = TIMER0 + 0x004;
const T_RELOAD: usize = TIMER0 + 0x008;

/// CMSDK APB TIMER0 counting down from `u32::MAX` at 25 MHz, widened to
/// 64 bits. A free-running counter rather than a SysTick interrupt count:
/// ticks are never lost while the core is held (semihosting calls, a busy
/// host).
pub struct Timer {
    last: u32,
    wraps: u32,
}

impl Timer {
    /// Start TIMER0 from the top.
    pub fn new() -> Self {
        write(T_CTRL, 0);
        write(T_RELOAD, u32::MAX);
        write(T_VALUE, u32::MAX);
        write(T_CTRL, 1);
        Timer { last: 0, wraps: 0 }
    }

    /// Ticks since start (low 32 bits), for boot-id jitter too.
    pub fn ticks32(&self) -> u32 {
        u32::MAX - read(T_VALUE)
    }
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for Timer {
    /// Milliseconds since start. Must be called at least once per 171 s
    /// (the main loop calls it all the time).
    fn now_ms(&mut self) -> u64 {
        let now = self.ticks32();
        if now < self.last {
            self.wraps = self.wraps.wrapping_add(1);
        }
        self.last = now;
        ((u64::from(self.wraps) << 32) | u64::from(now)) / u64::from(SYSCLK_HZ / 1000)
    }
}
