//! What a sandbox is started with: its address, the one OAuth client it
//! knows, API keys, the tenant, the tags that exist, and the spec to
//! validate against. Parsed from the command line by [`Config::from_args`].

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use url::Url;

/// A tag that exists in the sandbox's Keap app from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedTag {
    /// Keap's integer tag id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// A loopback address: the sandbox never listens anywhere else, because
/// its control API has no authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopbackHost(IpAddr);

impl LoopbackHost {
    /// Accepts `localhost` or a loopback IP literal; refuses anything else.
    pub fn parse(text: &str) -> Result<LoopbackHost, ConfigError> {
        let trimmed = text.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if trimmed.eq_ignore_ascii_case("localhost") {
            IpAddr::from([127, 0, 0, 1])
        } else {
            trimmed
                .parse()
                .map_err(|_| ConfigError(format!("--host {text}: not an IP address")))?
        };
        if ip.is_loopback() {
            Ok(LoopbackHost(ip))
        } else {
            Err(ConfigError(format!(
                "--host {text}: the sandbox listens on loopback addresses only"
            )))
        }
    }

    /// The address itself.
    pub fn ip(self) -> IpAddr {
        self.0
    }
}

impl Default for LoopbackHost {
    fn default() -> Self {
        LoopbackHost(IpAddr::from([127, 0, 0, 1]))
    }
}

/// Everything a sandbox starts with. [`Config::default`] is what
/// `keap-sandbox` with no arguments uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (loopback only).
    pub host: LoopbackHost,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// The OAuth client id of the one app the sandbox knows.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// API keys accepted in `X-Keap-API-Key` (or as a Bearer token).
    pub api_keys: Vec<String>,
    /// When set, the only redirect URI the authorize page accepts.
    pub redirect_uri: Option<Url>,
    /// The tenant (app name), e.g. `xy123`: the scope names
    /// `xy123.infusionsoft.com`.
    pub tenant: String,
    /// Tags that exist from the start.
    pub tags: Vec<SeedTag>,
    /// The OpenAPI document to validate against.
    pub spec: PathBuf,
    /// `expires_in` of issued access tokens, in seconds.
    pub expires_in: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: LoopbackHost::default(),
            port: 0,
            client_id: "sandbox-client".to_owned(),
            client_secret: "sandbox-secret".to_owned(),
            api_keys: vec!["KeapAK-sandbox".to_owned()],
            redirect_uri: None,
            tenant: "xy123".to_owned(),
            tags: vec![
                SeedTag {
                    id: 101,
                    name: "Lead".to_owned(),
                },
                SeedTag {
                    id: 102,
                    name: "Website".to_owned(),
                },
                SeedTag {
                    id: 103,
                    name: "Newsletter".to_owned(),
                },
            ],
            spec: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../keap-rest-v1.openapi.json"
            )),
            expires_in: 86_400,
        }
    }
}

/// A bad command line, with a message that says which option and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub enum Command {
    /// Run a sandbox.
    Run(Box<Config>),
    /// Print usage.
    Help,
}

/// Command-line usage, printed by `--help`.
pub const USAGE: &str = "\
usage: keap-sandbox [--host 127.0.0.1] [--port 0]
                    [--client-id ID] [--client-secret SECRET]
                    [--api-key KEY]... [--redirect-uri URL] [--tenant xy123]
                    [--tags 101:Lead,102:Website,103:Newsletter]
                    [--expires-in 86400] [--spec PATH]

Prints `listening on http://HOST:PORT` as its first line, then serves Keap's
OAuth pages, token endpoint and REST v1 (/crm/rest) plus a control API under
/_sandbox/. See the crate documentation for details.";

impl Config {
    /// The domain named after the `|` in the token's `scope`.
    pub fn tenant_domain(&self) -> String {
        format!("{}.infusionsoft.com", self.tenant)
    }

    /// The `scope` Keap answers with: `full|xy123.infusionsoft.com`.
    pub fn scope(&self) -> String {
        format!("full|{}", self.tenant_domain())
    }

    /// Parses command-line arguments (without the program name).
    pub fn from_args<I, S>(args: I) -> Result<Command, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut config = Config::default();
        let mut api_keys: Vec<String> = Vec::new();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            if name == "--help" || name == "-h" {
                return Ok(Command::Help);
            }
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ConfigError(format!("{name} needs a value")))
            };
            match name.as_str() {
                "--host" => config.host = LoopbackHost::parse(&value()?)?,
                "--port" => {
                    let text = value()?;
                    config.port = text
                        .parse()
                        .map_err(|_| ConfigError(format!("--port {text}: not a port number")))?;
                }
                "--client-id" => config.client_id = non_empty(&name, value()?)?,
                "--client-secret" => config.client_secret = non_empty(&name, value()?)?,
                "--api-key" => api_keys.push(non_empty(&name, value()?)?),
                "--redirect-uri" => config.redirect_uri = Some(parse_redirect_uri(&value()?)?),
                "--tenant" => config.tenant = parse_tenant(&value()?)?,
                "--tags" => config.tags = parse_tags(&value()?)?,
                "--expires-in" => {
                    let text = value()?;
                    config.expires_in = text.parse().map_err(|_| {
                        ConfigError(format!("--expires-in {text}: not a number of seconds"))
                    })?;
                }
                "--spec" => config.spec = PathBuf::from(value()?),
                other => return Err(ConfigError(format!("unknown option {other}\n\n{USAGE}"))),
            }
        }
        if !api_keys.is_empty() {
            config.api_keys = api_keys;
        }
        Ok(Command::Run(Box::new(config)))
    }
}

fn non_empty(name: &str, value: String) -> Result<String, ConfigError> {
    if value.is_empty() {
        Err(ConfigError(format!("{name} must not be empty")))
    } else {
        Ok(value)
    }
}

/// A redirect URI as Keap requires it: absolute http(s), no query string,
/// no fragment.
pub fn parse_redirect_uri(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text)
        .map_err(|_| ConfigError(format!("--redirect-uri {text}: not an absolute URL")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(ConfigError(format!(
            "--redirect-uri {text}: must be http(s) with no query string or fragment"
        )));
    }
    Ok(url)
}

fn parse_tenant(text: &str) -> Result<String, ConfigError> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(ConfigError(format!(
            "--tenant {text}: letters, digits and '-' only"
        )))
    }
}

/// `101:Lead,102:Website` into tags; ids must be positive and distinct.
pub fn parse_tags(text: &str) -> Result<Vec<SeedTag>, ConfigError> {
    let mut tags: Vec<SeedTag> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, name) = item
            .split_once(':')
            .ok_or_else(|| ConfigError(format!("--tags {item}: expected ID:NAME")))?;
        let id: i64 =
            id.trim().parse().ok().filter(|id| *id > 0).ok_or_else(|| {
                ConfigError(format!("--tags {item}: id must be a positive integer"))
            })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(ConfigError(format!(
                "--tags {item}: name must not be empty"
            )));
        }
        if tags.iter().any(|t| t.id == id) {
            return Err(ConfigError(format!("--tags: id {id} given twice")));
        }
        tags.push(SeedTag {
            id,
            name: name.to_owned(),
        });
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, ConfigError> {
        match Config::from_args(args.iter().copied())? {
            Command::Run(config) => Ok(*config),
            Command::Help => Err(ConfigError("help".into())),
        }
    }

    #[test]
    fn defaults_work_alone() {
        let c = run(&[]).unwrap();
        assert_eq!(c.client_id, "sandbox-client");
        assert_eq!(c.api_keys, vec!["KeapAK-sandbox"]);
        assert_eq!(c.tags.len(), 3);
        assert_eq!(c.scope(), "full|xy123.infusionsoft.com");
    }

    #[test]
    fn parses_every_option() {
        let c = run(&[
            "--host",
            "::1",
            "--port=8123",
            "--client-id",
            "id",
            "--client-secret",
            "s",
            "--api-key",
            "k1",
            "--api-key",
            "k2",
            "--redirect-uri",
            "http://127.0.0.1:8787/oauth/callback",
            "--tenant",
            "ab9",
            "--tags",
            "5:A, 6:B",
            "--expires-in",
            "60",
            "--spec",
            "/x.json",
        ])
        .unwrap();
        assert_eq!(c.port, 8123);
        assert!(c.host.ip().is_loopback());
        assert_eq!(c.api_keys, vec!["k1", "k2"]);
        assert_eq!(c.tenant, "ab9");
        assert_eq!(
            c.tags[1],
            SeedTag {
                id: 6,
                name: "B".into()
            }
        );
        assert_eq!(c.expires_in, 60);
    }

    #[test]
    fn refuses_non_loopback_hosts_and_bad_values() {
        assert!(run(&["--host", "0.0.0.0"]).is_err());
        assert!(run(&["--host", "192.168.1.2"]).is_err());
        assert!(run(&["--host", "example.com"]).is_err());
        assert!(run(&["--port", "70000"]).is_err());
        assert!(run(&["--port"]).is_err());
        assert!(run(&["--tags", "x:Lead"]).is_err());
        assert!(run(&["--tags", "1:A,1:B"]).is_err());
        assert!(run(&["--redirect-uri", "https://a.example/cb?x=1"]).is_err());
        assert!(run(&["--frobnicate"]).is_err());
        assert!(LoopbackHost::parse("localhost").is_ok());
    }
}
