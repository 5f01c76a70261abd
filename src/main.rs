use clap::Parser;

fn main() {
    facebench::cli::tune_heap();
    let cli = facebench::cli::Cli::parse();
    if let Err(e) = facebench::cli::run_cli(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
