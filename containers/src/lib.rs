//! petrel's container images: reading OCI and `docker save` images (`image`), applying their
//! layers (`layers`), writing the root filesystem as squashfs (`squash`), bundles on disk and
//! in memory (`bundle`), and what `petrel run` tells the guest and hears back (`run`).

pub mod bundle;
pub mod image;
pub mod layers;
pub mod run;
pub mod squash;
