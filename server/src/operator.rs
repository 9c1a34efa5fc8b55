//! What the operator's commands do besides serving: ask a running server
//! whether it is ready (`kam-server health`, the container's health check),
//! and look after users without the REST API (`kam-server user ...`, for
//! whoever lost the admin password). Users are created and changed through
//! [`crate::org`], the same functions the admin routes call, so the same
//! rules hold and a changed password or a deactivation ends every session.

use crate::auth::Role;
use crate::entities::{branch, team, user};
use crate::error::ApiError;
use crate::org::{self, NewUser, User, UserChanges};
use crate::state::AppState;
use anyhow::{Context, bail};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use uuid::Uuid;

/// The variable a new password is taken from before standard input is read.
pub const PASSWORD_VAR: &str = "KAM_USER_PASSWORD";

/// How long a readiness check waits for the server's answer (a container
/// health check gives it a few seconds).
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

/// The readiness probe of the server listening on `bind` (the configured
/// `server.bind`): a wildcard address (`0.0.0.0`, `::`) is asked on
/// loopback, where the server also listens.
pub fn readiness_url(bind: &str) -> anyhow::Result<String> {
    let host_port = match bind.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            bail!("the configured bind address {bind} picks a free port: give the server's --url")
        }
        Ok(mut addr) => {
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            addr.to_string()
        }
        // A host name and port, as `localhost:8080`.
        Err(_) => bind.to_owned(),
    };
    Ok(format!("http://{host_port}/readyz"))
}

/// The readiness probe under a server's base URL (`http://host:port`).
pub fn readiness_url_under(base: &str) -> String {
    format!("{}/readyz", base.trim_end_matches('/'))
}

/// How much of the answer a readiness check reads: the status line and
/// enough of the body to say why not.
const READINESS_ANSWER_LIMIT: u64 = 16 * 1024;

/// Asks `url` (`http://host[:port]/path`) whether the server is ready: `Ok`
/// on a 2xx, else why not. One plain HTTP/1.1 GET, so the server's binary
/// carries no HTTP client: it checks the server beside it (in its
/// container), never through a proxy, and an `https` URL is refused.
pub async fn check_ready(url: &str) -> anyhow::Result<()> {
    let (authority, address, path) = http_target(url)?;
    let answer = tokio::time::timeout(READINESS_TIMEOUT, get(&address, &authority, &path))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "not ready: no answer from {url} within {} s",
                READINESS_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("not ready: no answer from {url}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    // `HTTP/1.1 200 OK`: the version, then the code and its reason.
    let status = head
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("HTTP/"))
        .and_then(|line| line.split_once(' '))
        .map(|(_, status)| status.trim())
        .with_context(|| format!("not ready: {url} did not answer in HTTP"))?;
    let code = status
        .split(' ')
        .next()
        .and_then(|code| code.parse::<u16>().ok());
    if code.is_some_and(|code| (200..300).contains(&code)) {
        return Ok(());
    }
    bail!(
        "not ready: {url} answered {status} {}",
        body.chars().take(200).collect::<String>()
    )
}

/// The parts of an `http://` URL a GET needs: the authority (for `Host`),
/// the address to connect to (the port defaults to 80) and the path.
fn http_target(url: &str) -> anyhow::Result<(String, String, String)> {
    if url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        bail!(
            "the health command speaks plain HTTP to the server beside it: give an http:// URL, not {url}"
        );
    }
    let rest = url
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])
        .with_context(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    // Nothing of the URL may end the request line or a header early.
    if authority.is_empty()
        || authority.contains('@')
        || url.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        bail!("not a server address: {url}");
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    let address = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority.to_owned(), address, path))
}

/// Sends `GET path` to `address` and reads the answer (at most
/// [`READINESS_ANSWER_LIMIT`] bytes) until the server closes.
async fn get(address: &str, authority: &str, path: &str) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: kam-server-health\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream
        .take(READINESS_ANSWER_LIMIT)
        .read_to_end(&mut answer)
        .await?;
    Ok(answer)
}

/// A new password: `KAM_USER_PASSWORD` when set and not empty (`from_env`),
/// else the first line of `input` (a pipe, or what a person types). Never
/// from the command line, where other users of the machine could read it.
pub fn new_password(
    from_env: Option<String>,
    input: &mut impl BufRead,
) -> anyhow::Result<SecretString> {
    if let Some(password) = from_env.filter(|password| !password.is_empty()) {
        return Ok(SecretString::from(password));
    }
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("no password: set {PASSWORD_VAR} or write it on standard input");
    }
    Ok(SecretString::from(password.to_owned()))
}

/// A role named on the command line.
pub fn parse_role(name: &str) -> Result<Role, String> {
    Role::parse(name)
        .ok_or_else(|| format!("no role `{name}`: one of admin, director, manager, rep, service"))
}

/// A user to create from the command line: the team and branch named by id
/// or by name.
pub struct NewUserByName {
    /// Login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Own team (required for reps): its id, or its name if no other team has it.
    pub team: Option<String>,
    /// Branch (directors and service staff): its id, or its name.
    pub branch: Option<String>,
}

/// Creates a user as `POST /users` does.
pub async fn create_user(
    state: &AppState,
    new: NewUserByName,
    password: SecretString,
) -> anyhow::Result<User> {
    let team_id = match &new.team {
        Some(team) => Some(
            id_named::<team::Entity>(state, "team", team::Column::Name, |row| row.id, team).await?,
        ),
        None => None,
    };
    let branch_id = match &new.branch {
        Some(branch) => Some(
            id_named::<branch::Entity>(state, "branch", branch::Column::Name, |row| row.id, branch)
                .await?,
        ),
        None => None,
    };
    let created = org::create_user(
        &state.db,
        NewUser {
            username: new.username,
            display_name: new.display_name,
            password,
            role: new.role,
            team_id,
            branch_id,
        },
    )
    .await
    .map_err(refused)?;
    let user = User::try_from(created).map_err(refused)?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user created from the command line");
    Ok(user)
}

/// Sets a user's password as `PATCH /users/{id}` does, which ends all their
/// sessions.
pub async fn reset_password(
    state: &AppState,
    username: &str,
    password: SecretString,
) -> anyhow::Result<User> {
    change_user(
        state,
        username,
        UserChanges {
            password: Some(password),
            ..UserChanges::default()
        },
    )
    .await
}

/// Deactivates a user as `PATCH /users/{id}` does, which ends all their
/// sessions; the last active admin stays.
pub async fn deactivate(state: &AppState, username: &str) -> anyhow::Result<User> {
    change_user(
        state,
        username,
        UserChanges {
            active: Some(false),
            ..UserChanges::default()
        },
    )
    .await
}

async fn change_user(
    state: &AppState,
    username: &str,
    changes: UserChanges,
) -> anyhow::Result<User> {
    let id = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(state.db.conn())
        .await?
        .map(|row| row.id)
        .with_context(|| format!("no user `{username}`"))?;
    org::update_user(&state.db, &state.sessions(), id, changes, None)
        .await
        .map_err(refused)
}

/// The id `id_or_name` is, or the id of the one `what` (a team, a branch)
/// whose `name` column holds it.
async fn id_named<E>(
    state: &AppState,
    what: &str,
    name: E::Column,
    id_of: fn(E::Model) -> Uuid,
    id_or_name: &str,
) -> anyhow::Result<Uuid>
where
    E: EntityTrait,
{
    if let Ok(id) = Uuid::parse_str(id_or_name) {
        return Ok(id);
    }
    let ids: Vec<Uuid> = E::find()
        .filter(name.eq(id_or_name))
        .all(state.db.conn())
        .await?
        .into_iter()
        .map(id_of)
        .collect();
    one_named(what, id_or_name, &ids)
}

/// The one id among `ids` of the `what` called `name`.
fn one_named(what: &str, name: &str, ids: &[Uuid]) -> anyhow::Result<Uuid> {
    match ids {
        [id] => Ok(*id),
        [] => bail!("no {what} named `{name}`"),
        _ => {
            let listed: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            bail!(
                "{} {what}s are named `{name}`: give the id of one ({})",
                ids.len(),
                listed.join(", ")
            )
        }
    }
}

/// An API refusal as a sentence for a person: the detail, then each
/// violation with its field and code.
fn refused(err: ApiError) -> anyhow::Error {
    let problem = err.problem();
    let mut message = problem.detail;
    for violation in &problem.violations {
        message.push_str(&format!(
            "\n  {}: {} ({})",
            violation.field, violation.message, violation.code
        ));
    }
    anyhow::anyhow!(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_wildcard_bind_address_is_checked_on_loopback() {
        let url = |bind: &str| readiness_url(bind).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/readyz");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080/readyz");
        assert_eq!(url("10.1.2.3:9000"), "http://10.1.2.3:9000/readyz");
        assert_eq!(url("localhost:8080"), "http://localhost:8080/readyz");
        assert!(readiness_url("127.0.0.1:0").is_err());
    }

    #[test]
    fn a_health_check_takes_only_plain_http_urls() {
        let target = |url: &str| http_target(url).map_err(|err| err.to_string());
        let parts = |authority: &str, address: &str, path: &str| {
            Ok((authority.to_owned(), address.to_owned(), path.to_owned()))
        };
        assert_eq!(
            target("http://127.0.0.1:8080/readyz"),
            parts("127.0.0.1:8080", "127.0.0.1:8080", "/readyz")
        );
        assert_eq!(
            target("http://[::1]:8080/readyz"),
            parts("[::1]:8080", "[::1]:8080", "/readyz")
        );
        assert_eq!(
            target("HTTP://kam.internal/readyz"),
            parts("kam.internal", "kam.internal:80", "/readyz")
        );
        assert_eq!(target("http://[::1]"), parts("[::1]", "[::1]:80", "/"));
        let https = target("https://kam.example.com/readyz")
            .err()
            .unwrap_or_default();
        assert!(https.contains("http://"), "{https}");
        assert!(target("ftp://kam.example.com/readyz").is_err());
        assert!(target("http:///readyz").is_err());
        assert!(target("http://127.0.0.1:8080/readyz\r\nX-Injected: 1").is_err());
    }

    #[test]
    fn a_password_comes_from_the_variable_before_standard_input() {
        let secret = |from_env: Option<&str>, input: &str| {
            new_password(from_env.map(str::to_owned), &mut input.as_bytes())
                .map(|password| password.expose_secret().to_owned())
                .map_err(|err| err.to_string())
        };
        assert_eq!(
            secret(Some("from-the-variable"), "typed\n"),
            Ok("from-the-variable".to_owned())
        );
        assert_eq!(
            secret(Some(""), "typed in full\r\n"),
            Ok("typed in full".to_owned())
        );
        assert_eq!(secret(None, "piped"), Ok("piped".to_owned()));
        assert!(secret(None, "\n").is_err());
        assert!(secret(None, "").is_err());
    }

    #[test]
    fn an_unknown_role_names_the_roles_there_are() {
        assert_eq!(parse_role("rep"), Ok(Role::Rep));
        assert!(
            parse_role("boss").is_err_and(|message| message.contains("admin, director")),
            "{:?}",
            parse_role("boss")
        );
    }
}
