-- Permission role (Keto v0.14): relation tuples. Like Keto's keto_relation_tuples, without the
-- UUID mapping (objects and subjects are stored as the strings clients send) and without a
-- uniqueness constraint (Keto stores a PUT of an existing tuple as a second row; a delete
-- removes every copy). `id` is a random UUID, the keyset of list pagination (Keto: shard_id).
CREATE TABLE permission_relation_tuples (
    id                    TEXT PRIMARY KEY NOT NULL,
    namespace             TEXT NOT NULL,
    object                TEXT NOT NULL,
    relation              TEXT NOT NULL,
    subject_id            TEXT NULL,
    subject_set_namespace TEXT NULL,
    subject_set_object    TEXT NULL,
    subject_set_relation  TEXT NULL,
    commit_time           BIGINT NOT NULL,
    CHECK ((subject_id IS NULL) <> (subject_set_namespace IS NULL)),
    CHECK ((subject_set_namespace IS NULL) = (subject_set_object IS NULL)),
    CHECK ((subject_set_namespace IS NULL) = (subject_set_relation IS NULL))
);

-- Check hop: direct lookup, subject-set expansion and traverse all start from
-- (namespace, object, relation); the subject columns make the direct EXISTS index-only.
CREATE INDEX permission_relation_tuples_forward_idx
    ON permission_relation_tuples (namespace, object, relation, subject_id,
                                   subject_set_namespace, subject_set_object, subject_set_relation);
-- List filters and reverse lookups by subject.
CREATE INDEX permission_relation_tuples_reverse_subject_id_idx
    ON permission_relation_tuples (subject_id, namespace, relation, object);
CREATE INDEX permission_relation_tuples_reverse_subject_set_idx
    ON permission_relation_tuples (subject_set_namespace, subject_set_object, subject_set_relation,
                                   namespace, relation, object);
-- Keyset pages over one object#relation (expansion, traverse, expand, list) in page-key order.
CREATE INDEX permission_relation_tuples_page_idx
    ON permission_relation_tuples (namespace, object, relation, id);
-- List by namespace only, in page-key order.
CREATE INDEX permission_relation_tuples_namespace_idx
    ON permission_relation_tuples (namespace, id);
