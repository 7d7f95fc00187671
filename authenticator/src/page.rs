//! The device's local HTTPS page: what a person opens in a browser to reach the device.
//!
//! [`serve_page`] serves a small HTML page at `/` naming the device, and `/healthz`, over TLS
//! with the certificate chain and key it is given (the owner-CA certificate issued at
//! onboarding, or any certificate a browser has been told to trust for this device's key).
//! TLS is rustls with the ring provider; HTTP is axum over HTTP/1.1.
//!
//! TLS handshakes run in tasks of their own, so a client that connects and then stalls holds
//! up nobody else; a handshake that does not finish within [`HANDSHAKE_TIMEOUT`] is dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Text every device page shows, whatever its title: what tests and scripts look for to know
/// they reached a vouch device page and not an error page.
pub const PAGE_MARKER: &str = "vouch device page";

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`RunningPage::stop`] lets requests in flight finish before it drops them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What [`serve_page`] serves, and where.
#[derive(Clone, Debug)]
pub struct PageConfig {
    /// The address to listen on; port 0 lets the system pick one (see [`RunningPage::addr`]).
    pub listen: SocketAddr,
    /// The device's certificate followed by any intermediates, as PEM `CERTIFICATE` blocks.
    pub cert_chain_pem: String,
    /// The certificate's private key, as PEM (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: String,
    /// The device's name as the page shows it.
    pub title: String,
}

/// A device page being served; [`RunningPage::stop`] ends it. Dropping it without `stop`
/// ends it too, abruptly.
#[derive(Debug)]
pub struct RunningPage {
    /// The address the page is served on (with the port the system picked, if it was 0).
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
}

impl RunningPage {
    /// Stops accepting connections, lets requests in flight finish (for a few seconds at
    /// most), and returns once the server is gone.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(STOP_GRACE, &mut server).await.is_err()
        {
            server.abort();
            let _ = server.await;
        }
    }
}

impl Drop for RunningPage {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// Serves the device page over HTTPS on `config.listen` until [`RunningPage::stop`].
///
/// Fails, before listening, when the PEM holds no certificate or no key, when the key does not
/// belong to the first certificate, or when the address cannot be bound. Must be called within
/// a tokio runtime, which runs the server.
pub async fn serve_page(config: PageConfig) -> anyhow::Result<RunningPage> {
    let tls = TlsAcceptor::from(Arc::new(server_config(
        &config.cert_chain_pem,
        &config.key_pem,
    )?));
    let tcp = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = tcp
        .local_addr()
        .context("cannot read the listening address")?;
    let listener = TlsListener::start(tcp, tls, addr);

    let page = Html(page_html(&config.title));
    let app = Router::new()
        .route("/", get(move || std::future::ready(page.clone())))
        .route("/healthz", get(|| std::future::ready("ok")));

    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A dropped sender means the same as a sent stop.
                let _ = stopped.await;
            })
            .await
    });
    Ok(RunningPage {
        addr,
        shutdown: Some(shutdown),
        server: Some(server),
    })
}

/// The rustls server configuration for a PEM chain and key.
fn server_config(cert_chain_pem: &str, key_pem: &str) -> anyhow::Result<rustls::ServerConfig> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("the certificate chain is not valid PEM: {e}"))?;
    if chain.is_empty() {
        anyhow::bail!("the certificate chain holds no CERTIFICATE block");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| anyhow!("no private key in the key PEM: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("the TLS provider supports no safe protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the key and the certificate cannot serve together")?;
    // The server speaks HTTP/1.1 only; saying so spares clients a failed HTTP/2 attempt.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The page at `/`.
fn page_html(title: &str) -> String {
    let title = html_escape(title);
    format!(
        "<!doctype html>\n\
         <html lang=\"en\">\n\
         <head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n\
         <h1>{title}</h1>\n\
         <p>This is a {PAGE_MARKER}, served by the device itself over HTTPS.</p>\n\
         </body>\n\
         </html>\n"
    )
}

/// `text` with the characters that mean something in HTML replaced by their references.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Completed TLS connections, for axum: a task accepts TCP connections and runs each
/// handshake in a task of its own, so that one slow client cannot stall the others.
struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    fn start(tcp: TcpListener, tls: TlsAcceptor, addr: SocketAddr) -> Self {
        let (sender, ready) = mpsc::channel(16);
        let acceptor = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Errors about one connection concern only it; others (out of file
                        // descriptors) may last: wait a little before trying again.
                        if !matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionAborted
                                | io::ErrorKind::ConnectionReset
                                | io::ErrorKind::ConnectionRefused
                        ) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        continue;
                    }
                };
                let tls = tls.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    // A failed or stalled handshake is the client's problem: drop it.
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await
                    {
                        let _ = sender.send((stream, peer)).await;
                    }
                });
            }
        });
        Self {
            addr,
            ready,
            acceptor,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task is gone (it only ends when this listener is dropped): no
            // connection will ever come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_escaped_and_the_marker_is_always_there() {
        let html = page_html("<b>kitchen</b> & \"hall\"");
        assert!(html.contains("&lt;b&gt;kitchen&lt;/b&gt; &amp; &quot;hall&quot;"));
        assert!(!html.contains("<b>"));
        assert!(html.contains(PAGE_MARKER));
    }

    #[test]
    fn a_chain_without_certificates_is_refused() {
        let err = server_config("", "").unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
    }
}
