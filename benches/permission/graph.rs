//! The permission benchmarks' graph generator (shared by `benches/permission_check.rs` and, via
//! `PERMISSION_GRAPH_OUT`, by `benches/permission_load.sh`): per organization exactly 100
//! tuples — the seed's Organization / Gateway model with gateways inheriting viewers from
//! `Organization#members`, nested groups (dept ← 3 teams), and 3-level folder `traverse`
//! chains — so 10,000 organizations give 1,000,000 tuples.

/// The namespaces the graph is written for (OPL).
pub const OPL: &str = r#"
class User implements Namespace {}
class Group implements Namespace {
  related: { members: (User | SubjectSet<Group, "members">)[] }
}
class Organization implements Namespace {
  related: { owners: User[]  admins: User[]  members: User[] }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.admins.includes(ctx.subject) ||
      this.related.members.includes(ctx.subject),
  }
}
class Gateway implements Namespace {
  related: {
    owners: (User | SubjectSet<Organization, "admins">)[]
    admins: (User | SubjectSet<Organization, "admins">)[]
    members: User[]
    viewers: (User | SubjectSet<Organization, "members">)[]
  }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.admins.includes(ctx.subject) ||
      this.related.members.includes(ctx.subject) ||
      this.related.viewers.includes(ctx.subject),
  }
}
class Folder implements Namespace {
  related: {
    parents: Folder[]
    viewers: (User | SubjectSet<Group, "members">)[]
  }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.related.parents.traverse((p) => p.permits.view(ctx)),
  }
}
"#;

/// Tuples per organization.
pub const PER_ORG: usize = 100;

/// The graph of `orgs` organizations as Keto text lines (`PER_ORG` each).
pub fn tuples(orgs: usize) -> Vec<String> {
    let mut t = Vec::with_capacity(orgs * PER_ORG);
    for o in 0..orgs {
        // organization: 24 members, 2 admins, 1 owner (27)
        for m in 0..24 {
            t.push(format!("Organization:o{o}#members@u{o}_{m}"));
        }
        for a in 0..2 {
            t.push(format!("Organization:o{o}#admins@a{o}_{a}"));
        }
        t.push(format!("Organization:o{o}#owners@own{o}"));
        // 10 gateways: viewers and admins inherited from the organization, 1 direct member (30)
        for g in 0..10 {
            t.push(format!(
                "Gateway:g{o}_{g}#viewers@Organization:o{o}#members"
            ));
            t.push(format!("Gateway:g{o}_{g}#admins@Organization:o{o}#admins"));
            t.push(format!("Gateway:g{o}_{g}#members@gm{o}_{g}"));
        }
        // nested groups: dept <- team0..2, 5 users per team (18)
        for k in 0..3 {
            t.push(format!("Group:dept{o}#members@Group:team{o}_{k}#members"));
            for m in 0..5 {
                t.push(format!("Group:team{o}_{k}#members@u{o}_{}", k * 5 + m));
            }
        }
        // folders: root viewed by the dept, 3 mids under root, 3 leaves under each mid, one
        // direct viewer on each mid and leaf (25)
        t.push(format!("Folder:root{o}#viewers@Group:dept{o}#members"));
        for m in 0..3 {
            t.push(format!("Folder:mid{o}_{m}#parents@Folder:root{o}"));
            t.push(format!("Folder:mid{o}_{m}#viewers@fv{o}_{m}"));
            for l in 0..3 {
                t.push(format!("Folder:leaf{o}_{m}_{l}#parents@Folder:mid{o}_{m}"));
                t.push(format!("Folder:leaf{o}_{m}_{l}#viewers@lv{o}_{m}_{l}"));
            }
        }
    }
    t
}

/// The checks the benchmarks time, on organization `o`: (name, tuple, expected).
pub fn checks(o: usize) -> Vec<(&'static str, String, bool)> {
    vec![
        ("direct", format!("Organization:o{o}#members@u{o}_3"), true),
        // Gateway#view -> viewers -> Organization#members
        ("2-hop", format!("Gateway:g{o}_7#view@u{o}_3"), true),
        // Folder#view on a leaf -> parents (mid) -> parents (root) -> viewers -> dept -> team
        ("4-hop", format!("Folder:leaf{o}_2_1#view@u{o}_12"), true),
        (
            "denied-4-hop",
            format!("Folder:leaf{o}_2_1#view@nobody"),
            false,
        ),
    ]
}
