use accord_bench::cbase::{self, QsHello};
use accord_bench::workload::Codec;
use std::hint::black_box;
#[inline(never)]
fn acc(w: &Codec, buf: &mut [u8]) -> usize {
    let len = w.accord_hello_encode(buf);
    Codec::accord_hello_decode(black_box(&buf[..len]))
}
#[inline(never)]
fn acc_enc(w: &Codec, buf: &mut [u8]) -> usize {
    w.accord_hello_encode(buf)
}
#[inline(never)]
fn acc_dec(buf: &[u8]) -> usize {
    Codec::accord_hello_decode(buf)
}
#[inline(never)]
fn cc(w: &Codec, buf: &mut [u8], out: &mut QsHello) -> usize {
    let len = cbase::hello_encode(&w.c_hello, buf).unwrap();
    cbase::hello_decode(black_box(&buf[..len]), out).unwrap()
}
fn main() {
    let w = Codec::new(32);
    let mut buf = vec![0u8; 4096];
    let mut out = Box::<QsHello>::default();
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    for _ in 0..n {
        black_box(acc(black_box(&w), &mut buf));
        black_box(cc(black_box(&w), &mut buf, &mut out));
    }
    let l = acc_enc(&w, &mut buf);
    black_box(acc_dec(&buf[..l]));
}
