# The accounts allowed to receive Tokyo's multicast: the allow-list, changed
# only in a reviewed pull request (docs/DEPLOY.md, 7. Onboard a customer).
# One customer per line, "name : { ... }": with a colon, terraform fmt does not
# realign the other lines, so adding or removing a customer is a one-line diff
# and its speculative plan adds or removes one RAM principal association.
#
#   acme : { account_id = "222222222222", receivers = 4 }
#   acme : { account_id = "222222222222", receivers = 4, attachments = { "tgw-attach-0aaaaaaaaaaaaaaa1" = ["10.50.0.0/16"] } }
#
# Terraform loads this file after terraform.tfvars, so a customers there is
# overridden; in Terraform Cloud, set no workspace variable "customers".
customers = {
}
