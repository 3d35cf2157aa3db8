mod breaker;
mod budget;
mod outlier;
