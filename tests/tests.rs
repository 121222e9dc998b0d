//! One integration-test binary, one module per area.
mod attacks;
mod capture;
mod containers;
mod live;
mod net;
mod pipeline;
mod ring;
mod security;
mod source;
mod util;
