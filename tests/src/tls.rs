//! A test CA made at test time with Debian's `openssl` (no key is committed), a server
//! certificate it signs for `redis.test` and 127.0.0.1, and the redis.conf lines of a TLS port.

use crate::harness::TempDir;
use std::path::PathBuf;
use std::process::Command;

/// The files a TLS redis-server needs.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// redis.conf lines for a TLS port beside the plaintext one (clients need no certificate).
    pub fn redis_lines(&self, tls_port: u16) -> Vec<String> {
        vec![
            format!("tls-port {tls_port}"),
            format!("tls-cert-file {}", self.cert.display()),
            format!("tls-key-file {}", self.key.display()),
            format!("tls-ca-cert-file {}", self.ca.display()),
            "tls-auth-clients no".to_string(),
        ]
    }
}

pub struct TestCa {
    pub dir: TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl (scripts/setup.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// A CA (P-256) and a certificate for `redis.test` / 127.0.0.1 signed by it (server and client
    /// use: a Cluster's nodes present it to each other on the TLS bus).
    pub fn new(tag: &str) -> Self {
        let dir = TempDir::new(&format!("tls-{tag}"));
        let d = dir.0.as_path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
        ]);
        openssl(d, &ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=redis.test",
        ]);
        openssl(d, &csr);
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:redis.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("ext.cnf");
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        Self {
            ca: d.join("ca.pem"),
            cert: d.join("server.pem"),
            key: d.join("server.key"),
            dir,
        }
    }

    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// redis.conf lines for a TLS port beside the plaintext one (clients need no certificate).
    pub fn redis_lines(&self, tls_port: u16) -> Vec<String> {
        self.files().redis_lines(tls_port)
    }
}
