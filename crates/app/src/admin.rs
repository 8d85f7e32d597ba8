//! Operator actions: organizations, members and tokens (the CLI), and first-start bootstrap.

use rand::distr::{Alphanumeric, SampleString};
use stagecoach_domain::enums::{MembershipRole, TokenType};
use stagecoach_domain::ids::{ApiTokenId, MembershipId, OrganizationId};
use stagecoach_domain::organization::{
    Membership, Organization, clean_calling_code, clean_name, normalize_email,
};
use stagecoach_domain::token::{ApiToken, DISPLAY_PREFIX_LEN, TOKEN_PREFIX};
use stagecoach_storage::{StoreError, Transaction};

use crate::auth::hash_secret;
use crate::{AppError, Entity, Principal, Stagecoach};

/// Random characters after the prefix: 40 alphanumerics are about 238 bits.
const SECRET_LEN: usize = 40;

/// A token just created: the only moment its secret is known.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token: ApiToken,
    pub secret: String,
}

/// What a first start on an empty database created.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub organization: Organization,
    pub token: NewToken,
}

impl Stagecoach {
    /// Creates an organization; `default_calling_code` completes phone numbers written
    /// without a country code.
    pub async fn create_organization(
        &self,
        name: &str,
        default_calling_code: Option<&str>,
    ) -> Result<Organization, AppError> {
        let mut org = self.new_organization(name)?;
        org.default_calling_code = default_calling_code.map(clean_calling_code).transpose()?;
        let mut tx = self.store.begin_write().await?;
        tx.insert_organization(&org).await?;
        crate::labels::add_system_labels(tx.as_mut(), org.id, org.created_at).await?;
        tx.commit().await?;
        tracing::info!(organization.id = %org.id, "organization created");
        Ok(org)
    }

    pub async fn add_member(
        &self,
        org: OrganizationId,
        email: &str,
        name: &str,
        role: MembershipRole,
    ) -> Result<Membership, AppError> {
        let now = self.now();
        let membership = Membership {
            id: MembershipId::new(),
            organization_id: org,
            email: normalize_email(email)?,
            name: clean_name("name", name)?,
            role,
            phone: None,
            availability: "Active".into(),
            team_role: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        require_organization(tx.as_mut(), org).await?;
        match tx.insert_membership(&membership).await {
            Err(StoreError::UniqueViolation) => {
                return Err(AppError::Conflict {
                    field: "email",
                    message: format!(
                        "{} is already a member of this organization",
                        membership.email
                    ),
                });
            }
            other => other?,
        }
        tx.commit().await?;
        tracing::info!(organization.id = %org, membership.id = %membership.id, "member added");
        Ok(membership)
    }

    pub async fn create_token(
        &self,
        org: OrganizationId,
        name: &str,
        scopes: Option<Vec<String>>,
        token_type: TokenType,
    ) -> Result<NewToken, AppError> {
        let new = self.new_token(org, name, scopes, token_type)?;
        let mut tx = self.store.begin_write().await?;
        require_organization(tx.as_mut(), org).await?;
        tx.insert_api_token(&new.token, &hash_secret(&new.secret))
            .await?;
        tx.commit().await?;
        tracing::info!(organization.id = %org, token.id = %new.token.id, "API token created");
        Ok(new)
    }

    pub async fn list_tokens(&self, org: OrganizationId) -> Result<Vec<ApiToken>, AppError> {
        let mut tx = self.store.begin_read().await?;
        require_organization(tx.as_mut(), org).await?;
        Ok(tx.list_api_tokens(org).await?)
    }

    /// Every member of the organization, by name.
    pub async fn list_members(&self, org: OrganizationId) -> Result<Vec<Membership>, AppError> {
        let mut tx = self.store.begin_read().await?;
        require_organization(tx.as_mut(), org).await?;
        all_memberships(tx.as_mut(), org).await
    }

    /// Removes a member: their assignments, web sessions and sign-in links go with them.
    pub async fn remove_member(
        &self,
        org: OrganizationId,
        member: MembershipId,
    ) -> Result<(), AppError> {
        let mut tx = self.store.begin_write().await?;
        if !tx.delete_membership(org, member).await? {
            return Err(AppError::not_found(Entity::Membership, "member"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A token made by a signed-in caller for its own organization: it may hold only
    /// scopes the caller holds.
    pub async fn create_token_as(
        &self,
        who: &Principal,
        name: &str,
        scopes: Option<Vec<String>>,
    ) -> Result<NewToken, AppError> {
        if !stagecoach_domain::scope::may_grant(who.scopes.as_deref(), scopes.as_deref()) {
            return Err(AppError::invalid(
                "scopes",
                "a token can only be given scopes that you hold yourself",
            ));
        }
        self.create_token(who.organization_id, name, scopes, TokenType::Sync)
            .await
    }

    /// Revokes a token of the caller's organization (another's is not found).
    pub async fn revoke_token_as(
        &self,
        who: &Principal,
        id: Option<ApiTokenId>,
    ) -> Result<ApiToken, AppError> {
        let found = match id {
            Some(id) => {
                let mut tx = self.store.begin_read().await?;
                tx.get_api_token(who.organization_id, id).await?
            }
            None => None,
        };
        let token = found.ok_or(AppError::not_found(Entity::ApiToken, "tokenId"))?;
        self.revoke_token(token.id).await
    }

    pub async fn revoke_token(&self, id: ApiTokenId) -> Result<ApiToken, AppError> {
        let mut tx = self.store.begin_write().await?;
        let token = tx
            .revoke_api_token(id, self.now())
            .await?
            .ok_or(AppError::not_found(Entity::ApiToken, "tokenId"))?;
        tx.commit().await?;
        tracing::info!(token.id = %id, "API token revoked");
        Ok(token)
    }

    /// On a database with no organization at all, creates one with a token, so a first
    /// start is usable at once. Several servers starting together bootstrap exactly once;
    /// the others get `None`, as does any later start.
    pub async fn bootstrap_if_empty(&self) -> Result<Option<Bootstrap>, AppError> {
        let mut tx = self.store.begin_write().await?;
        if tx.count_organizations().await? > 0 {
            return Ok(None);
        }
        let organization = self.new_organization("My organization")?;
        let token = self.new_token(organization.id, "bootstrap", None, TokenType::Sync)?;
        tx.insert_organization(&organization).await?;
        crate::labels::add_system_labels(tx.as_mut(), organization.id, organization.created_at)
            .await?;
        if !tx.claim_bootstrap(organization.id, self.now()).await? {
            return Ok(None);
        }
        tx.insert_api_token(&token.token, &hash_secret(&token.secret))
            .await?;
        tx.commit().await?;
        Ok(Some(Bootstrap {
            organization,
            token,
        }))
    }

    fn new_organization(&self, name: &str) -> Result<Organization, AppError> {
        let now = self.now();
        Ok(Organization {
            id: OrganizationId::new(),
            name: clean_name("name", name)?,
            default_calling_code: None,
            created_at: now,
            updated_at: now,
        })
    }

    fn new_token(
        &self,
        org: OrganizationId,
        name: &str,
        scopes: Option<Vec<String>>,
        token_type: TokenType,
    ) -> Result<NewToken, AppError> {
        let name = clean_name("name", name)?;
        let scopes = match scopes {
            None => None,
            Some(list) => {
                let mut clean: Vec<String> = Vec::new();
                for scope in list {
                    let scope = scope.trim().to_owned();
                    if scope.is_empty() {
                        return Err(AppError::invalid("scope", "scopes must not be empty"));
                    }
                    if !stagecoach_domain::scope::is_valid_name(&scope) {
                        return Err(AppError::invalid(
                            "scope",
                            format!(
                                "{scope:?} is not a scope; the scopes are: {}",
                                stagecoach_domain::scope::valid_names().join(", ")
                            ),
                        ));
                    }
                    if !clean.contains(&scope) {
                        clean.push(scope);
                    }
                }
                Some(clean)
            }
        };
        let secret = format!(
            "{TOKEN_PREFIX}{}",
            Alphanumeric.sample_string(&mut rand::rng(), SECRET_LEN)
        );
        Ok(NewToken {
            token: ApiToken {
                id: ApiTokenId::new(),
                organization_id: org,
                name,
                token_type,
                scopes,
                display_prefix: secret[..DISPLAY_PREFIX_LEN].to_owned(),
                created_at: self.now(),
                last_used_at: None,
                revoked_at: None,
            },
            secret,
        })
    }
}

async fn require_organization(
    tx: &mut dyn Transaction,
    org: OrganizationId,
) -> Result<Organization, AppError> {
    tx.get_organization(org)
        .await?
        .ok_or(AppError::not_found(Entity::Organization, "org"))
}

impl Stagecoach {
    /// The caller's organization.
    pub async fn organization(&self, who: &crate::Principal) -> Result<Organization, AppError> {
        let mut tx = self.store.begin_read().await?;
        require_organization(tx.as_mut(), who.organization_id).await
    }
}

/// Every member of the organization, read page by page.
pub(crate) async fn all_memberships(
    tx: &mut dyn stagecoach_storage::Transaction,
    org: OrganizationId,
) -> Result<Vec<Membership>, AppError> {
    const PAGE: i64 = 500;
    let mut members = Vec::new();
    loop {
        let (page, total) = tx.list_memberships(org, members.len() as i64, PAGE).await?;
        let last = page.len() < PAGE as usize;
        members.extend(page);
        if last || members.len() as i64 >= total {
            return Ok(members);
        }
    }
}
