//! One integration-test binary, one module per area.
mod live;
mod pipeline;
mod ring;
mod util;
