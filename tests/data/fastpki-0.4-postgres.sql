-- The schema of a FastPKI 0.4 database on PostgreSQL (upstream main of June 2026),
-- as SQLAlchemy creates it from FastPKI's models (app/db/models.py), which its Alembic
-- migrations reach at head: native enum types, timestamptz, json, boolean. Generated with
--   CreateTable(t).compile(dialect=postgresql.dialect()) for t in SQLModel.metadata.sorted_tables
-- for tests/api/import.rs, which loads the SQLite fixture's rows into it to test importing
-- from a FastPKI PostgreSQL database.
CREATE TYPE userrole AS ENUM ('SUPERUSER', 'ADMIN', 'USER');
CREATE TYPE auditaction AS ENUM ('CA_CREATE', 'CA_UPDATE', 'CA_DELETE', 'CA_EXPORT_PRIVATE_KEY', 'CERT_CREATE', 'CERT_REVOKE', 'CERT_EXPORT_PRIVATE_KEY', 'LOGIN_SUCCESS', 'LOGIN_FAILURE', 'USER_CREATE', 'USER_UPDATE', 'ORG_CREATE', 'ORG_DELETE', 'ORG_ADD_USER', 'ORG_REMOVE_USER', 'SERVICE_ACCOUNT_CREATE', 'SERVICE_ACCOUNT_UPDATE', 'SERVICE_ACCOUNT_DELETE', 'SERVICE_ACCOUNT_TOKEN_CREATE', 'SERVICE_ACCOUNT_TOKEN_REVOKE');
CREATE TYPE certificatetype AS ENUM ('CA', 'SERVER', 'CLIENT', 'DUAL_PURPOSE');
CREATE TYPE certificatestatus AS ENUM ('VALID', 'REVOKED', 'EXPIRED');
CREATE TABLE blocklisted_tokens (
	id SERIAL NOT NULL, 
	jti VARCHAR NOT NULL, 
	exp TIMESTAMP WITH TIME ZONE NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_blocklisted_tokens_jti ON blocklisted_tokens (jti);
CREATE TABLE organizations (
	id SERIAL NOT NULL, 
	name VARCHAR NOT NULL, 
	description VARCHAR, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_organizations_name ON organizations (name);
CREATE TABLE users (
	id SERIAL NOT NULL, 
	username VARCHAR NOT NULL, 
	email VARCHAR NOT NULL, 
	hashed_password VARCHAR NOT NULL, 
	role userrole NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	can_create_ca BOOLEAN NOT NULL, 
	can_create_cert BOOLEAN NOT NULL, 
	can_revoke_cert BOOLEAN NOT NULL, 
	can_export_private_key BOOLEAN NOT NULL, 
	can_delete_ca BOOLEAN NOT NULL, 
	tokens_invalidated_at TIMESTAMP WITH TIME ZONE, 
	organization_id INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organizations (id)
);
CREATE UNIQUE INDEX ix_users_email ON users (email);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE TABLE refresh_tokens (
	id SERIAL NOT NULL, 
	token_hash VARCHAR NOT NULL, 
	user_id INTEGER NOT NULL, 
	expires_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	revoked BOOLEAN NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id)
);
CREATE UNIQUE INDEX ix_refresh_tokens_token_hash ON refresh_tokens (token_hash);
CREATE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE TABLE service_accounts (
	id SERIAL NOT NULL, 
	name VARCHAR NOT NULL, 
	description VARCHAR, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	disabled_at TIMESTAMP WITH TIME ZONE, 
	can_create_ca BOOLEAN NOT NULL, 
	can_create_cert BOOLEAN NOT NULL, 
	can_revoke_cert BOOLEAN NOT NULL, 
	can_export_private_key BOOLEAN NOT NULL, 
	can_delete_ca BOOLEAN NOT NULL, 
	organization_id INTEGER NOT NULL, 
	created_by_user_id INTEGER, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_service_account_org_name UNIQUE (organization_id, name), 
	FOREIGN KEY(organization_id) REFERENCES organizations (id), 
	FOREIGN KEY(created_by_user_id) REFERENCES users (id)
);
CREATE INDEX ix_service_accounts_name ON service_accounts (name);
CREATE INDEX ix_service_accounts_organization_id ON service_accounts (organization_id);
CREATE TABLE audit_logs (
	id SERIAL NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	action auditaction NOT NULL, 
	user_id INTEGER, 
	username VARCHAR, 
	service_account_id INTEGER, 
	service_account_name VARCHAR, 
	organization_id INTEGER, 
	resource_type VARCHAR, 
	resource_id INTEGER, 
	detail VARCHAR, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id), 
	FOREIGN KEY(service_account_id) REFERENCES service_accounts (id), 
	FOREIGN KEY(organization_id) REFERENCES organizations (id)
);
CREATE INDEX ix_audit_logs_action ON audit_logs (action);
CREATE INDEX ix_audit_logs_user_id ON audit_logs (user_id);
CREATE INDEX ix_audit_logs_created_at ON audit_logs (created_at);
CREATE INDEX ix_audit_logs_organization_id ON audit_logs (organization_id);
CREATE INDEX ix_audit_logs_service_account_id ON audit_logs (service_account_id);
CREATE TABLE certificate_authorities (
	name VARCHAR NOT NULL, 
	description VARCHAR, 
	subject_dn VARCHAR NOT NULL, 
	key_size INTEGER NOT NULL, 
	valid_days INTEGER NOT NULL, 
	id SERIAL NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	private_key VARCHAR NOT NULL, 
	certificate VARCHAR NOT NULL, 
	organization_id INTEGER, 
	created_by_user_id INTEGER, 
	created_by_service_account_id INTEGER, 
	parent_ca_id INTEGER, 
	path_length INTEGER, 
	allow_leaf_certs BOOLEAN NOT NULL, 
	crl_base_url VARCHAR, 
	PRIMARY KEY (id), 
	FOREIGN KEY(organization_id) REFERENCES organizations (id), 
	FOREIGN KEY(created_by_user_id) REFERENCES users (id), 
	FOREIGN KEY(created_by_service_account_id) REFERENCES service_accounts (id), 
	FOREIGN KEY(parent_ca_id) REFERENCES certificate_authorities (id)
);
CREATE INDEX ix_certificate_authorities_name ON certificate_authorities (name);
CREATE TABLE issuance_policies (
	id SERIAL NOT NULL, 
	service_account_id INTEGER NOT NULL, 
	cn_patterns JSON, 
	san_dns_patterns JSON, 
	san_ip_cidrs JSON, 
	san_email_domains JSON, 
	allowed_ca_ids JSON, 
	allowed_certificate_types JSON, 
	max_validity_days INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(service_account_id) REFERENCES service_accounts (id)
);
CREATE UNIQUE INDEX ix_issuance_policies_service_account_id ON issuance_policies (service_account_id);
CREATE TABLE service_account_tokens (
	id SERIAL NOT NULL, 
	service_account_id INTEGER NOT NULL, 
	public_id VARCHAR NOT NULL, 
	digest VARCHAR NOT NULL, 
	pepper_version INTEGER NOT NULL, 
	name VARCHAR, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	last_used_at TIMESTAMP WITH TIME ZONE, 
	expires_at TIMESTAMP WITH TIME ZONE, 
	revoked BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(service_account_id) REFERENCES service_accounts (id)
);
CREATE UNIQUE INDEX ix_service_account_tokens_public_id ON service_account_tokens (public_id);
CREATE INDEX ix_service_account_tokens_service_account_id ON service_account_tokens (service_account_id);
CREATE TABLE certificates (
	common_name VARCHAR NOT NULL, 
	subject_dn VARCHAR NOT NULL, 
	certificate_type certificatetype NOT NULL, 
	key_size INTEGER NOT NULL, 
	valid_days INTEGER NOT NULL, 
	status certificatestatus NOT NULL, 
	id SERIAL NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	private_key VARCHAR, 
	certificate VARCHAR NOT NULL, 
	serial_number VARCHAR NOT NULL, 
	not_before TIMESTAMP WITH TIME ZONE NOT NULL, 
	not_after TIMESTAMP WITH TIME ZONE NOT NULL, 
	revoked_at TIMESTAMP WITH TIME ZONE, 
	issuer_id INTEGER, 
	organization_id INTEGER, 
	created_by_user_id INTEGER, 
	created_by_service_account_id INTEGER, 
	is_csr_origin BOOLEAN NOT NULL, 
	renewed_from_id INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(issuer_id) REFERENCES certificate_authorities (id), 
	FOREIGN KEY(organization_id) REFERENCES organizations (id), 
	FOREIGN KEY(created_by_user_id) REFERENCES users (id), 
	FOREIGN KEY(created_by_service_account_id) REFERENCES service_accounts (id), 
	FOREIGN KEY(renewed_from_id) REFERENCES certificates (id)
);
CREATE INDEX ix_certificates_serial_number ON certificates (serial_number);
CREATE INDEX ix_certificates_common_name ON certificates (common_name);
CREATE TABLE crl_entries (
	id SERIAL NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	serial_number VARCHAR NOT NULL, 
	revocation_date TIMESTAMP WITH TIME ZONE NOT NULL, 
	reason VARCHAR, 
	ca_id INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(ca_id) REFERENCES certificate_authorities (id)
);
CREATE INDEX ix_crl_entries_serial_number ON crl_entries (serial_number);
