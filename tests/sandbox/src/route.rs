//! Which of the sandbox's routes a request is for. The names are what the
//! control API counts calls by and what faults can target.

/// A route the sandbox knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /app/oauth/authorize`: the consent page.
    Authorize,
    /// `POST /app/oauth/decision`: Allow or Deny pressed.
    AuthorizeDecision,
    /// `POST /token` with `grant_type=authorization_code`.
    TokenAuthorizationCode,
    /// `POST /token` with `grant_type=refresh_token`.
    TokenRefresh,
    /// `POST /token` with anything else (refused).
    TokenOther,
    /// `PUT /crm/rest/v1/contacts`.
    ContactsPut,
    /// `POST /crm/rest/v1/contacts/{id}/tags`: apply tags to a contact.
    TagsPost,
    /// `GET /crm/rest/v1/tags`.
    TagsList,
    /// `POST /crm/rest/v1/tags`: create a tag.
    TagCreate,
    /// `GET /crm/rest/v1/tags/{id}`: read one tag.
    TagGet,
    /// `GET /crm/rest/v1/contacts/model`: custom fields and optional
    /// properties of contacts.
    ContactModel,
    /// `POST /crm/rest/v1/notes`: add a note to a contact.
    NotesPost,
    /// `GET /crm/rest/v1/oauth/connect/userinfo`.
    Userinfo,
    /// Any other path under `/crm/rest`.
    RestOther,
    /// `/_sandbox/...`: the control API (not counted, logged or faulted).
    Control,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Classifies a request. `grant_type` matters only for `/token`.
    pub fn classify(method: &str, path: &str, grant_type: Option<&str>) -> Route {
        let path = path.trim_end_matches('/');
        if path.starts_with("/_sandbox/") || path == "/_sandbox" {
            return Route::Control;
        }
        if let Some(rest) = path.strip_prefix("/crm/rest") {
            return match (method, rest) {
                ("PUT", "/v1/contacts") => Route::ContactsPut,
                ("GET", "/v1/tags") => Route::TagsList,
                ("POST", "/v1/tags") => Route::TagCreate,
                ("GET", "/v1/contacts/model") => Route::ContactModel,
                ("POST", "/v1/notes") => Route::NotesPost,
                ("GET", _) if tag_id(rest).is_some() => Route::TagGet,
                ("GET", "/v1/oauth/connect/userinfo") => Route::Userinfo,
                ("POST", _) if contact_tags_id(rest).is_some() => Route::TagsPost,
                _ => Route::RestOther,
            };
        }
        match (method, path) {
            ("GET", "/app/oauth/authorize") => Route::Authorize,
            ("POST", "/app/oauth/decision") => Route::AuthorizeDecision,
            (_, "/token") => match grant_type {
                Some("authorization_code") => Route::TokenAuthorizationCode,
                Some("refresh_token") => Route::TokenRefresh,
                _ => Route::TokenOther,
            },
            _ => Route::NotFound,
        }
    }

    /// The name used in counts, the request log and fault targets.
    pub fn name(self) -> &'static str {
        match self {
            Route::Authorize => "authorize",
            Route::AuthorizeDecision => "authorize_decision",
            Route::TokenAuthorizationCode => "token_authorization_code",
            Route::TokenRefresh => "token_refresh",
            Route::TokenOther => "token_other",
            Route::ContactsPut => "contacts_put",
            Route::TagsPost => "tags_post",
            Route::TagsList => "tags_list",
            Route::TagCreate => "tag_create",
            Route::TagGet => "tag_get",
            Route::ContactModel => "contact_model",
            Route::NotesPost => "notes_post",
            Route::Userinfo => "userinfo",
            Route::RestOther => "rest_other",
            Route::Control => "control",
            Route::NotFound => "not_found",
        }
    }

    /// Every route.
    pub const ALL: [Route; 16] = [
        Route::Authorize,
        Route::AuthorizeDecision,
        Route::TokenAuthorizationCode,
        Route::TokenRefresh,
        Route::TokenOther,
        Route::ContactsPut,
        Route::TagsPost,
        Route::TagsList,
        Route::TagCreate,
        Route::TagGet,
        Route::ContactModel,
        Route::NotesPost,
        Route::Userinfo,
        Route::RestOther,
        Route::Control,
        Route::NotFound,
    ];

    /// The route with this [`Route::name`].
    pub fn from_name(name: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The token endpoint, any grant.
    pub fn is_token(self) -> bool {
        matches!(
            self,
            Route::TokenAuthorizationCode | Route::TokenRefresh | Route::TokenOther
        )
    }

    /// Anything under `/crm/rest`.
    pub fn is_rest(self) -> bool {
        matches!(
            self,
            Route::ContactsPut
                | Route::TagsPost
                | Route::TagsList
                | Route::TagCreate
                | Route::TagGet
                | Route::ContactModel
                | Route::NotesPost
                | Route::Userinfo
                | Route::RestOther
        )
    }
}

/// The `{id}` segment of `/v1/contacts/{id}/tags`, unparsed.
pub fn contact_tags_id(rest_path: &str) -> Option<&str> {
    rest_path
        .strip_prefix("/v1/contacts/")?
        .strip_suffix("/tags")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// The `{id}` segment of `/v1/tags/{id}`, unparsed.
pub fn tag_id(rest_path: &str) -> Option<&str> {
    rest_path
        .strip_prefix("/v1/tags/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_keap_paths() {
        assert_eq!(
            Route::classify("PUT", "/crm/rest/v1/contacts", None),
            Route::ContactsPut
        );
        assert_eq!(
            Route::classify("POST", "/crm/rest/v1/contacts/12/tags", None),
            Route::TagsPost
        );
        assert_eq!(
            Route::classify("POST", "/crm/rest/v1/contacts//tags", None),
            Route::RestOther
        );
        assert_eq!(
            Route::classify("POST", "/token", Some("refresh_token")),
            Route::TokenRefresh
        );
        assert_eq!(
            Route::classify("GET", "/_sandbox/state", None),
            Route::Control
        );
        assert_eq!(
            Route::classify("POST", "/crm/rest/v1/notes", None),
            Route::NotesPost
        );
        assert_eq!(
            Route::classify("GET", "/crm/rest/v1/tags/101", None),
            Route::TagGet
        );
        assert_eq!(
            Route::classify("GET", "/crm/rest/v1/tags/", None),
            Route::TagsList
        );
        assert_eq!(
            Route::classify("GET", "/crm/rest/v1/contacts/model", None),
            Route::ContactModel
        );
        assert_eq!(Route::classify("GET", "/nope", None), Route::NotFound);
        for route in Route::ALL {
            assert_eq!(Route::from_name(route.name()), Some(route));
        }
    }
}
