mod common;
use accord_core::*;
use common::*;

#[test]
fn happy_path_reaches_switchover() {
    let mut s = source_with(
        &[(RP, REQ, 0), (ACK, REQ, 0), (MULTIFD, REQ, 4)],
        &[("ram", false), ("0000:00:02.0/vfio", true)],
    );
    let mut d = destination_with(&[("ram", false), ("0000:00:02.0/vfio", true)]);
    s.start(T0).unwrap();
    open_channels(&s, &mut d, T0);
    pump(&mut s, &mut d, T0);
    assert_eq!(s.state(), SourceState::Precopy, "{:?}", s.error());
    assert!(s.channels_ready());
    assert!(!s.can_switchover());
    let vfio = d.devices().find("0000:00:02.0/vfio", 1).unwrap();
    d.approve(at(10), vfio).unwrap();
    pump(&mut s, &mut d, at(10));
    assert!(s.can_switchover());
    s.start_switchover(at(11)).unwrap();
    pump(&mut s, &mut d, at(11));
    assert_eq!(d.state(), DestinationState::SwitchedOver);
    println!("{:?}", events_source(&mut s));
    println!("{:?}", events_destination(&mut d));
}
