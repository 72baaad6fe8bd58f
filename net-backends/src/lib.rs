//! petrel's network backends: the one trait that hands Ethernet frames between a virtio-net
//! device and the outside, and its implementations (coming with the network issue).
