//! Operating dango unattended: the project's writer lock ([`lock`]), the sync history and its
//! anomaly warnings ([`history`]), disk space checks ([`disk`]), pending-package abort
//! ([`packages`]), schema drift ([`drift`]), schedules and the scheduler's decisions ([`schedule`]) and
//! their settings ([`settings`]).

pub mod backup;
pub mod disk;
pub mod doctor;
pub mod drift;
pub mod history;
pub mod lock;
pub mod packages;
pub mod schedule;
pub mod settings;
