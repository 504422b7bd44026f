//! The compiled-in schema extract (`src/spec_extract.json`, used when the
//! spec file is absent) must say what the spec says. To regenerate it from
//! the vendored `tests/keap-rest-v1.openapi.json`:
//!
//! ```text
//! jq -S '{
//!  "contacts_put_request": .paths["/v1/contacts"].put.requestBody.content["application/json"].schema,
//!  "contacts_put_response": .paths["/v1/contacts"].put.responses["200"].content["application/json"].schema,
//!  "contact_tags_post_request": .paths["/v1/contacts/{contactId}/tags"].post.requestBody.content["application/json"].schema,
//!  "tags_post_request": .paths["/v1/tags"].post.requestBody.content["application/json"].schema,
//!  "tags_post_response": .paths["/v1/tags"].post.responses["200"].content["application/json"].schema,
//!  "tags_get_response": .paths["/v1/tags"].get.responses["200"].content["application/json"].schema,
//!  "tag_get_response": .paths["/v1/tags/{id}"].get.responses["200"].content["application/json"].schema,
//!  "contact_model_response": .paths["/v1/contacts/model"].get.responses["200"].content["application/json"].schema,
//!  "notes_post_request": .paths["/v1/notes"].post.requestBody.content["application/json"].schema,
//!  "notes_post_response": .paths["/v1/notes"].post.responses["201"].content["application/json"].schema,
//!  "userinfo_response": .paths["/v1/oauth/connect/userinfo"].get.responses["200"].content["application/json"].schema
//! }' tests/keap-rest-v1.openapi.json > tests/sandbox/src/spec_extract.json
//! ```

use keap_sandbox::{Config, Schemas};

#[test]
fn builtin_extract_matches_the_spec() {
    let path = Config::default().spec;
    assert!(
        path.exists(),
        "Keap's OpenAPI spec is missing: {}",
        path.display()
    );
    let from_spec = Schemas::from_spec_file(&path).expect("the spec parses");
    assert_eq!(from_spec.document(), Schemas::builtin().document());
}

#[test]
fn a_missing_spec_falls_back_with_a_warning() {
    let (schemas, warning) = Schemas::load(std::path::Path::new("/nonexistent/spec.json"));
    assert!(warning.is_some_and(|w| w.contains("built-in")));
    assert_eq!(schemas.document(), Schemas::builtin().document());
}
