// Builds ebpf/ for bpfel-unknown-none with the nightly toolchain and leaves
// the object in OUT_DIR for include_bytes_aligned!. AYA_BUILD_SKIP=1 skips it
// (cargo check, clippy); the loader then reports that no programs are built in.
fn main() -> aya_build::Result<()> {
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    let skip =
        std::env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if skip {
        println!("cargo:rustc-cfg=ebpf_skipped");
    }
    println!("cargo::rustc-check-cfg=cfg(ebpf_skipped)");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "tracee-ebpf",
            root_dir: "../../ebpf",
            ..Default::default()
        }],
        aya_build::Toolchain::Custom("nightly"),
    )
}
