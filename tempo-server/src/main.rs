//! The `tempo-server` binary: see the crate documentation of `tempo_server`.

/// The allocator: request decoding, the head and block building allocate and free many small
/// buffers across threads, where glibc's allocator spends a quarter of the server's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tempo_server::main()
}
