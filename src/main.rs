fn main() -> std::process::ExitCode {
    mcast_relay::cli::main()
}
