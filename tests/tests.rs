//! One integration-test binary, one module per area.
mod attacks;
mod capture;
mod containers;
mod live;
mod pipeline;
mod ring;
mod source;
mod util;
