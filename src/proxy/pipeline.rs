//! The access-rule pipeline: authenticators (first responsible wins), one authorizer, every
//! mutator — each compiled from a rule's handler list at load (`authenticators`, `authorizers`,
//! `mutators`) and run per request by [`run`]. Handler semantics follow Oathkeeper v0.40's
//! code (see the reference note), including its quirks.

use std::sync::Arc;

use super::authenticators::{authenticate, Authenticated, Authn};
use super::authorizers::{authorize, Authz};
use super::error::Error;
use super::mutators::{mutate, Mutator};
use super::outbound::Outbound;
use super::request::PipelineRequest;
use super::template::TemplateData;

/// Runs authenticators, authorizer and mutators; on success the session (with its `header`
/// map holding what to send upstream / answer with).
pub async fn run(
    out: &Outbound,
    authenticators: &[Authn],
    authorizer: &Authz,
    mutators: &[Mutator],
    req: &PipelineRequest,
    captures: Vec<String>,
) -> Result<TemplateData, Error> {
    let mut session = TemplateData {
        captures,
        url: req.url.clone(),
        method: req.method.to_string(),
        request_header: Arc::clone(&req.headers),
        ..Default::default()
    };
    let mut done = false;
    for a in authenticators {
        match authenticate(out, a, req, &mut session).await? {
            Authenticated::NotResponsible => continue,
            Authenticated::Done => {
                done = true;
                break;
            }
        }
    }
    if !done {
        return Err(Error::unauthorized(
            "No authentication handler was responsible for handling the authentication request",
        ));
    }
    authorize(out, authorizer, req, &mut session).await?;
    for m in mutators {
        mutate(out, m, req, &mut session).await?;
    }
    Ok(session)
}
