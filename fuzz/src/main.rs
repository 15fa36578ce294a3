//! `fuzz [--inputs N] [--seed S] [TARGET...]`: runs each target (all by default) for N inputs
//! (10,000,000 by default) and prints a line per target; the panicking inputs go to
//! `fuzz-crashes/` under the current directory (scripts/fuzz.sh runs it in target/fuzz-out). Exits 1 if any target panicked.

use fuzz::engine::run;
use fuzz::targets;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut inputs: u64 = 10_000_000;
    let mut seed: u64 = 0x5eed;
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse().ok());
        match args[i].as_str() {
            "--inputs" => inputs = value().unwrap_or_else(|| usage("--inputs takes a number")),
            "--seed" => seed = value().unwrap_or_else(|| usage("--seed takes a number")),
            "--list" => {
                for t in targets::all() {
                    println!("{}", t.name);
                }
                return;
            }
            name if !name.starts_with('-') => {
                names.push(name.to_string());
                i += 1;
                continue;
            }
            other => usage(&format!("unknown flag {other}")),
        }
        i += 2;
    }
    let all = targets::all();
    for name in &names {
        if !all.iter().any(|t| t.name == name) {
            usage(&format!("no target {name} (--list names them)"));
        }
    }
    println!(
        "{:<22} {:>12} {:>8} {:>10} {:>11} {:>8}",
        "target", "inputs", "panics", "seconds", "inputs/s", "slowest"
    );
    let mut failed = false;
    for target in all
        .iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
    {
        let report = run(target, inputs, seed);
        let secs = report.elapsed.as_secs_f64();
        println!(
            "{:<22} {:>12} {:>8} {:>10.1} {:>11.0} {:>6.1}ms",
            report.target,
            report.inputs,
            report.panic_count,
            secs,
            report.inputs as f64 / secs.max(1e-9),
            report.slowest.as_secs_f64() * 1e3
        );
        for (n, (message, input)) in report.panics.iter().enumerate() {
            failed = true;
            let dir = std::path::Path::new("fuzz-crashes");
            let file = dir.join(format!("{}-{n}", report.target));
            let saved = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, input));
            match saved {
                Ok(()) => println!("  panic: {message} (input in {})", file.display()),
                Err(e) => println!("  panic: {message} (input not saved: {e}): {input:?}"),
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

fn usage(message: &str) -> ! {
    eprintln!("fuzz: {message}\nusage: fuzz [--inputs N] [--seed S] [--list] [TARGET...]");
    std::process::exit(2)
}
