# Reference numbers for reddsim's mocaredd accounting mode, computed by mocaredd itself.
#
# Runs mocaredd's own functions (R/fct_make_formula.R, fct_make_mcs.R, fct_combine_mcs_E.R,
# fct_combine_mcs_P.R, fct_combine_mcs_ER.R, fct_calc_res.R of github.com/openforis/mocaredd)
# on a workbook, the way the app's server does (R/mod_tool_server.R, section 3.1: set.seed,
# fct_combine_mcs_E, fct_combine_mcs_P for "REF" and "MON", fct_combine_mcs_ER, fct_calc_res
# at alpha = 1 - conf_level), with n_iter replaced by N, and writes one CSV row per estimate:
# mocaredd's rounded results (E = median, E_U, E_ME, E_cilower, E_ciupper) and, from the same
# simulations, the unrounded mean, SD, median and CI bounds (R quantile type 7).
#
# mocaredd is not installed as a package (its DESCRIPTION pulls in the shiny app); only the
# fct_ files above are sourced from a checkout. Debian packages needed: r-base-core,
# r-cran-dplyr, r-cran-tidyr, r-cran-readxl, r-cran-purrr, r-cran-stringr, r-cran-rlang.
#
# Usage:
#   Rscript benchmarks/mocaredd_reference.R MOCAREDD_R_DIR COMMIT WORKBOOK N SEED OUT.csv
# e.g. (the committed reference, tests/data/mocaredd/reference-example1-4pools.csv):
#   git -C <mirror> archive 77bb06f7b83883f0da84eb5bd6b4d3b664bd8e1c R | tar -x -C /tmp/moc
#   Rscript benchmarks/mocaredd_reference.R /tmp/moc/R 77bb06f7b83883f0da84eb5bd6b4d3b664bd8e1c \
#       tests/data/mocaredd/example1-4pools.xlsx 100000 93 \
#       tests/data/mocaredd/reference-example1-4pools.csv

suppressPackageStartupMessages({
  library(dplyr)
  library(tidyr)
  library(readxl)
  library(purrr)
  library(stringr)
  library(rlang)
})

## mocaredd uses dplyr >= 1.1.0's summarise(.by = ): Debian bookworm ships dplyr 1.0.10, so
## there (and only there) summarise() is given .by as group_by() + summarise(.groups = "drop").
## The groups' rows keep their order either way (c_el[1] of fct_combine_mcs_E is unchanged);
## the result is re-sorted by nothing mocaredd relies on (its later steps join by key).
## dplyr::where() is tidyselect::where() re-exported by dplyr 1.1 only: the sources are read
## with that one name substituted. dplyr::join_by() (used only for ad_annual = FALSE) has no
## such shim: a workbook with ad_annual = FALSE needs dplyr >= 1.1.
old_dplyr <- utils::packageVersion("dplyr") < "1.1.0"
if (old_dplyr) {
  summarise_orig <- dplyr::summarise
  summarise_by <- function(.data, ..., .by = NULL, .groups = NULL) {
    by <- rlang::enquo(.by)
    if (rlang::quo_is_null(by)) return(summarise_orig(.data, ..., .groups = .groups))
    cols <- names(tidyselect::eval_select(by, .data))
    summarise_orig(dplyr::group_by(.data, dplyr::across(dplyr::all_of(cols))), ...,
                   .groups = "drop")
  }
  utils::assignInNamespace("summarise", summarise_by, ns = "dplyr")
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 6) {
  stop("usage: mocaredd_reference.R MOCAREDD_R_DIR COMMIT WORKBOOK N SEED OUT.csv")
}
r_dir    <- args[1]
commit   <- args[2]
path     <- args[3]
n_iter   <- as.integer(args[4])
seed     <- as.integer(args[5])
out_path <- args[6]

for (f in c("fct_make_formula.R", "fct_make_mcs.R", "fct_combine_mcs_E.R",
            "fct_combine_mcs_P.R", "fct_combine_mcs_ER.R", "fct_calc_res.R")) {
  code <- readLines(file.path(r_dir, f), warn = FALSE)
  if (old_dplyr) code <- gsub("dplyr::where(", "tidyselect::where(", code, fixed = TRUE)
  eval(parse(text = code), envir = globalenv())
}

cs   <- read_xlsx(path = path, sheet = "c_stocks", na = "NA")
ad   <- read_xlsx(path = path, sheet = "AD_lu_transitions", na = "NA")
usr  <- read_xlsx(path = path, sheet = "user_inputs", na = "NA")
time <- read_xlsx(path = path, sheet = "time_periods", na = "NA")

## As mod_tool_server.R does before the simulations.
time <- time |> mutate(nb_years = year_end - year_start + 1)
usr$ci_alpha <- 1 - usr$conf_level
usr$n_iter   <- n_iter
set.seed(seed)

sim_trans <- fct_combine_mcs_E(.ad = ad, .cs = cs, .usr = usr, .time = time)
sim_REF   <- fct_combine_mcs_P(.data = sim_trans, .time = time, .period_type = "REF",
                               .ad_annual = usr$ad_annual)
sim_MON   <- fct_combine_mcs_P(.data = sim_trans, .time = time, .period_type = "MON",
                               .ad_annual = usr$ad_annual)
sim_ER    <- fct_combine_mcs_ER(.sim_ref = sim_REF, .sim_mon = sim_MON,
                                .ad_annual = usr$ad_annual)

alpha <- usr$ci_alpha
describe <- function(sims, value, quantity) {
  res <- fct_calc_res(.data = sims, .id = period_type, .sim = !!sym(value), .ci_alpha = alpha)
  raw <- sims |>
    group_by(period_type) |>
    summarise(
      n = n(),
      mean = mean(.data[[value]]),
      sd = sd(.data[[value]]),
      median = stats::median(.data[[value]]),
      ci_low = unname(stats::quantile(.data[[value]], alpha / 2, type = 7)),
      ci_high = unname(stats::quantile(.data[[value]], 1 - alpha / 2, type = 7)),
      .groups = "drop"
    )
  raw |>
    inner_join(res, by = "period_type") |>
    mutate(quantity = quantity) |>
    rename(period = period_type)
}

out <- bind_rows(
  describe(sim_REF, "E", "REF"),
  describe(sim_MON, "E", "MON"),
  describe(sim_ER, "ER_sim", "ER")
) |>
  mutate(
    seed = seed, conf_level = usr$conf_level, mocaredd_commit = commit,
    workbook = basename(path), r_version = paste(R.version$major, R.version$minor, sep = ".")
  ) |>
  select("quantity", "period", "n", "seed", "conf_level", "mean", "sd", "median",
         "ci_low", "ci_high", "E", "E_U", "E_ME", "E_cilower", "E_ciupper",
         "mocaredd_commit", "workbook", "r_version")

write.csv(out, out_path, row.names = FALSE, quote = FALSE)
print(as.data.frame(out))
