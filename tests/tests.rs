//! One integration-test binary, one module per area.
mod capture;
mod live;
mod pipeline;
mod ring;
mod util;
