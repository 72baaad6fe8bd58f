//! CPUID: the feature set petrel implements (x86-64-v2 and what was tested), coherent across
//! leaves.
