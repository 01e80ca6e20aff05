//! `paystream schema check`: the schemas of a working tree against every convention and the
//! compatibility rule (see `events::catalog`).

use super::CommandError;
use crate::events::Catalog;
use std::path::Path;

pub fn check(dir: &Path) -> Result<String, CommandError> {
    let catalog = Catalog::from_dir(dir).map_err(CommandError::Schemas)?;
    let mut names: Vec<&str> = catalog.current_names().collect();
    names.sort_unstable();
    Ok(format!(
        "{} schemas OK (conventions, released versions, backward compatibility):\n  {}",
        names.len(),
        names.join("\n  ")
    ))
}
