//! Compile-time proof that every public type of accord-core implements
//! `defmt::Format` when its `defmt` feature is on. Nothing here runs or
//! takes flash: the build fails if a type is missing. scripts/firmware-test.sh
//! checks that every `pub struct`/`pub enum` in core/src is listed below.

use accord_core::caps::{Agreed, CapOffer, CapabilityId, Enabled, Level, Offer};
use accord_core::channel::{ChannelId, Role};
use accord_core::channels::{Assignment, ChannelTable, Totals};
use accord_core::destination::{Destination, DestinationConfig, DestinationState};
use accord_core::device::{Device, DeviceId, DeviceTable};
use accord_core::error::{CodeEntry, Detail, DeviceName, Error, ErrorCode};
use accord_core::event::Event;
use accord_core::legacy::stream::DiscardRanges;
use accord_core::legacy::{
    Classifier, Command, CommandType, Decision, Family, LegacyConfig, MultifdInit, PageSizes,
    Parsed, RamDiscard, RpMessage, RpType, StreamHeader, VfioTag,
};
use accord_core::source::{AckPolicy, Source, SourceConfig, SourceState};
use accord_core::time::{Duration, Instant};
use accord_core::version::VersionRange;
use accord_core::wire::frame::{FrameType, RawFrame};
use accord_core::wire::msg::{
    ChannelsReady, DeviceOffer, Hello, List, SwitchoverAck, SwitchoverRevoke, SwitchoverStart,
    Welcome,
};
use accord_core::wire::preamble::Preamble;
use accord_core::wire::{Reader, Writer};
use accord_core::Name;

const fn format<T: defmt::Format + ?Sized>() {}

const _: () = {
    format::<Classifier>();
    format::<Command<'static>>();
    format::<CommandType>();
    format::<Decision>();
    format::<DiscardRanges<'static>>();
    format::<Family>();
    format::<LegacyConfig>();
    format::<MultifdInit>();
    format::<PageSizes>();
    format::<Parsed<u8>>();
    format::<RamDiscard<'static>>();
    format::<RpMessage<'static>>();
    format::<RpType>();
    format::<StreamHeader>();
    format::<VfioTag>();
    format::<AckPolicy>();
    format::<Agreed>();
    format::<Assignment>();
    format::<CapOffer>();
    format::<CapabilityId>();
    format::<ChannelId>();
    format::<ChannelTable>();
    format::<ChannelsReady>();
    format::<CodeEntry>();
    format::<Destination>();
    format::<DestinationConfig>();
    format::<DestinationState>();
    format::<Detail>();
    format::<Device>();
    format::<DeviceId>();
    format::<DeviceName>();
    format::<DeviceOffer<'static>>();
    format::<DeviceTable>();
    format::<Duration>();
    format::<Enabled>();
    format::<Error>();
    format::<ErrorCode>();
    format::<Event>();
    format::<FrameType>();
    format::<Hello<'static>>();
    format::<Instant>();
    format::<Level>();
    format::<List<'static>>();
    format::<Offer>();
    format::<Preamble>();
    format::<RawFrame<'static>>();
    format::<Reader<'static>>();
    format::<Role>();
    format::<Source>();
    format::<SourceConfig>();
    format::<SourceState>();
    format::<SwitchoverAck>();
    format::<SwitchoverRevoke>();
    format::<SwitchoverStart>();
    format::<Totals>();
    format::<VersionRange>();
    format::<Welcome<'static>>();
    format::<Writer<'static>>();
    format::<Name>();
};
